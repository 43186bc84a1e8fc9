"""Shared helpers for the test suite."""

import concurrent.futures
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from serving.server import free_ports  # noqa: F401  (one implementation, shared)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(args, env=None, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    """Runs `python args...` from the repository root; fails the test with its output."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )
    return proc


def signal_at(args, line: str, signum) -> tuple[int, str]:
    """Runs `python args...`, sends `signum` once a stderr line contains `line`;
    returns (exit code, stderr after that line)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
    )
    for seen in proc.stderr:
        if line in seen:
            proc.send_signal(signum)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    return proc.returncode, rest


def trainer_args(name: str, workdir, *flags) -> list:
    """`python -m trainers.<name> --config=configs/<name>.py --config.workdir=...` arguments."""
    return [
        "-m",
        f"trainers.{name}",
        f"--config=configs/{name}.py",
        f"--config.workdir={workdir}",
        *flags,
    ]


def killed_beside_whole(name: str, tmp_path, flags, line: str):
    """`trainers.<name>` with `flags` twice, side by side (tracing is mostly single-threaded:
    two processes share two cores): in `tmp_path/killed` SIGKILLed once a stderr line holds
    `line`, then resumed; in `tmp_path/whole` uninterrupted. Returns ((killed workdir, exit
    code, resumed process or None), (whole workdir, exit code, stderr))."""
    import signal

    with open(tmp_path / "whole.log", "w") as log:
        whole = subprocess.Popen(
            [sys.executable, *trainer_args(name, tmp_path / "whole", *flags)],
            cwd=REPO,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            cmd = trainer_args(name, tmp_path / "killed", *flags)
            returncode, _ = signal_at(cmd, line, signal.SIGKILL)
            resumed = run_python(cmd) if returncode == -signal.SIGKILL else None
            whole_returncode = whole.wait(timeout=600)
        finally:
            whole.kill()
    whole_run = tmp_path / "whole", whole_returncode, (tmp_path / "whole.log").read_text()
    return (tmp_path / "killed", returncode, resumed), whole_run


def checkpoint_state(workdir) -> dict:
    """{name: value} of every variable in the latest checkpoint of `workdir/checkpoints`."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(
        tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    )
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}


def load_npz(path) -> list[np.ndarray]:
    with np.load(path) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


def max_abs_diff(a, b) -> float:
    assert len(a) == len(b)
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "benchmark_command(args): the `python args...` run a test_benchmarks test checks"
    )


@pytest.fixture
def repo():
    return REPO


class _Prefetcher:
    """Runs the bodies of @prefetched fixtures on one background thread, in the order in
    which the selected tests first need them, while the tests go on in the foreground.
    Most of the suite is one process at a time, mostly single-threaded (TensorFlow imports
    and tracing), so on a small CI machine the second core would otherwise idle."""

    def __init__(self):
        self.bodies = {}  # (module name, fixture name) -> body(tmp_path_factory)
        self.futures = {}
        self.pool = None
        self.factory = None
        self.lock = threading.Lock()

    def key(self, module: str, name: str):
        for key in ((module, name), ("conftest", name)):
            if key in self.bodies:
                return key
        return None

    def start(self, items, factory):
        self.factory = factory
        # pytest makes its base temp folder on first use, unlocked: made here, before the
        # background thread starts, the foreground's first tmp_path cannot race the
        # background's first mktemp into two folders ("... is not a normalized and
        # relative path").
        factory.getbasetemp()
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="prefetch")
        with self.lock:
            for item in items:
                module = getattr(getattr(item, "module", None), "__name__", "")
                for name in getattr(item, "fixturenames", ()):
                    key = self.key(module, name)
                    if key is not None and key not in self.futures:
                        self.futures[key] = self.pool.submit(self.bodies[key], factory)

    def value(self, key):
        """The body's value: awaited if it has started in the background, else computed here
        (once: a body may ask for another's value)."""
        with self.lock:
            future = self.futures.get(key)
            mine = future is None or future.cancel()
            if mine:
                future = self.futures[key] = concurrent.futures.Future()
                future.set_running_or_notify_cancel()
        if mine:
            try:
                future.set_result(self.bodies[key](self.factory))
            except BaseException as e:  # pytest's outcomes too
                future.set_exception(e)
        return future.result()

    def stop(self):
        if self.pool is not None:  # what was not needed (a stop: -x, Ctrl-C) is not started
            self.pool.shutdown(wait=False, cancel_futures=True)


_PREFETCHER = _Prefetcher()


@pytest.fixture(scope="session", autouse=True)
def _prefetch(request, tmp_path_factory):
    _PREFETCHER.start(request.session.items, tmp_path_factory)
    yield _PREFETCHER
    _PREFETCHER.stop()


def prefetched(scope="module"):
    """Declares a fixture whose value is `body(tmp_path_factory)`, which a background thread
    may compute ahead of the first test that needs it (see _Prefetcher). The body may only
    run subprocesses and touch files: no TensorFlow or Keras in this process, whose global
    state (seeds, names) the foreground tests own."""

    def decorate(body):
        key = (body.__module__, body.__name__)
        _PREFETCHER.bodies[key] = body

        def fixture(_prefetch):
            return _prefetch.value(key)

        fixture.__doc__ = body.__doc__
        return pytest.fixture(scope=scope, name=body.__name__)(fixture)

    return decorate


def prefetched_value(module: str, name: str):
    """The value of the @prefetched fixture `name` of `module` (for a body that needs it)."""
    return _PREFETCHER.value(_PREFETCHER.key(module, name))


@pytest.fixture(autouse=True)
def _seeded():
    """Every in-process test starts from the same seeds, so a pass is repeatable."""
    import keras

    keras.utils.set_random_seed(0)


def tiny_flags(n_train=24, n_val=8, n_test=8) -> list:
    """Config overrides for a seconds-long run: 32 px phantoms, a two-unit 8/16 branch."""
    return [
        f"--config.data.phantoms.n_train={n_train}",
        f"--config.data.phantoms.n_val={n_val}",
        f"--config.data.phantoms.n_test={n_test}",
        "--config.data.phantoms.n_reference=2",
        "--config.data.phantoms.size=32",
        "--config.data.image_size=32",
        "--config.model.widths=(8,16)",
        "--config.model.blocks_per_unit=1",
        "--config.model.stem_width=8",
        "--config.train.batch_size=8",
    ]


# A seconds-long InfoWGAN-GP run on the cell phantoms, one pass over the data per epoch
# (the default: 40 steps); the caller adds --config.train.epochs.
INFOWGAN_TINY = [
    "--config.data.phantoms.n_train=40", "--config.data.phantoms.n_val=5",
    "--config.data.phantoms.n_test=20", "--config.infogan.channels=8",
    "--config.infogan.noise_dim=8", "--config.infogan.n_critic=2",
    "--config.infogan.grid_columns=4", "--config.train.steps_per_epoch=0",
]  # fmt: skip

G2C_TINY = [
    *tiny_flags(n_train=16),
    "--config.train.epochs=1",
    "--config.g2c.freeze_generators_epochs=0",
]


def export_tiny_generators(folder):
    """Writes untrained 32 px generators for HE, MASSON and PASM into `folder`, exported the
    way the CycleGAN stage does (`<stain>.keras`, each named generator_ab); returns it."""
    import tensorflow as tf

    from kerasg2c.models.resnet_generator import ResnetGenerator

    for stain in ("HE", "MASSON", "PASM"):
        generator = ResnetGenerator(ngf=4, n_blocks=1, name="generator_ab")
        generator(tf.zeros((1, 32, 32, 3)))
        generator.save(folder / f"{stain}.keras")
    return folder


def export_tiny_generators_apart(folder):
    """export_tiny_generators in a subprocess (for a @prefetched body); returns `folder`."""
    export = (
        "import pathlib, sys; sys.path.insert(0, 'tests'); "
        "from conftest import export_tiny_generators; "
        "export_tiny_generators(pathlib.Path(sys.argv[1]))"
    )
    proc = run_python(["-c", export, str(folder)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder


@prefetched(scope="session")
def g2c_run(tmp_path_factory):
    """A tiny trained G2C PAS_ALL+ run (generators exported the CycleGAN stage's way)."""
    generators = export_tiny_generators_apart(tmp_path_factory.mktemp("generators"))
    workdir = tmp_path_factory.mktemp("g2c_run")
    proc = run_python(
        trainer_args("g2c", workdir, f"--config.g2c.generators_dir={generators}", *G2C_TINY)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir


def first_test_patches(run, n=4):
    """(uint8 pixels [n, S, S, 3], the run's predicted probabilities [n, C]) of the first
    n test patches of a classification run, from its predictions_test.csv."""
    import tensorflow as tf

    from kerasg2c.evaluation import prediction_table

    rows = prediction_table.read_predictions(run / "predictions_test.csv")
    paths = sorted(rows)[:n]
    images = np.stack([tf.io.decode_png(tf.io.read_file(p), channels=3).numpy() for p in paths])
    classes = json.loads((run / "report.json").read_text())["classes"]
    expected = np.array([[float(rows[p][c]) for c in classes] for p in paths])
    return images, expected
