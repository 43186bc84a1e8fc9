"""The job layer: one run context per process, every config value checked before data is
read, and a user's mistake reported as one line naming the key or file (exit 2)."""

import ast
import concurrent.futures
import os
import shutil

import pytest
from conftest import REPO, export_tiny_generators, run_python, tiny_flags, trainer_args

from kerasg2c import quiet_start
from kerasg2c.errors import UserError
from kerasg2c.jobs import (
    classifier_job,
    config_files,
    cyclegan_job,
    g2c_job,
    histogan_job,
    launch,
    paired_translator_job,
)
from kerasg2c.phantoms import glomeruli

# A G2C run that trains its CycleGAN stage (one stain) and then a two-task hierarchy.
G2C_STAGE_AND_HIERARCHY = [
    *tiny_flags(),
    "--config.variant=PAS_HE",
    "--config.hierarchy=s_vs_noa,ss_vs_gs",
    "--config.train.epochs=1",
    "--config.g2c.freeze_generators_epochs=0",
    "--config.cyclegan_stage.train.epochs=1",
    "--config.cyclegan_stage.cyclegan.identity_warmup_epochs=1",
    "--config.cyclegan_stage.train.batch_size=2",
    "--config.cyclegan_stage.model.ngf=4",
    "--config.cyclegan_stage.model.n_blocks=1",
    "--config.cyclegan_stage.model.ndf=4",
]


def load_config(name, workdir, flags):
    """configs/<name>.py with `--config.key=value` overrides applied, as the CLI would."""
    config = config_files.load(os.path.join(REPO, "configs", f"{name}.py"))
    for flag in [f"--config.workdir={workdir}", *flags]:
        key, raw = flag.removeprefix("--config.").split("=", 1)
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[leaf] = value
    return config


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "root"
    glomeruli.write_dataset(root, n_train=6, n_val=3, n_test=3, n_reference=1, size=16)
    return root


@pytest.fixture
def info_logging():
    """absl logs INFO lines as the launchers do (it logs warnings only until flags parse)."""
    from absl import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.INFO)
    yield
    logging.set_verbosity(verbosity)


def test_a_job_and_its_stages_share_one_run_context(tmp_path, monkeypatch, info_logging):
    from kerasg2c.training import runtime

    strategies = []
    make_strategy = runtime.make_strategy

    def counted(*args, **kwargs):
        strategies.append(make_strategy(*args, **kwargs))
        return strategies[-1]

    monkeypatch.setattr(runtime, "make_strategy", counted)
    config = load_config("g2c", tmp_path, G2C_STAGE_AND_HIERARCHY)
    report = launch.run_job(g2c_job, config)
    # The CycleGAN stage and both tasks ran in the launcher's context: one strategy.
    assert len(strategies) == 1
    assert report["trainer"] == "hierarchy" and set(report["stages"]) == {"s_vs_noa", "ss_vs_gs"}
    assert (tmp_path / "cyclegan" / "generators" / "HE.keras").exists()
    # Each stage logged into its own workdir; the parent's log has the combined result.
    assert "training PAS_to_HE" in (tmp_path / "cyclegan" / "train.log").read_text()
    assert "test balanced accuracy" in (tmp_path / "s_vs_noa" / "train.log").read_text()
    parent_log = (tmp_path / "train.log").read_text()
    assert "combined test balanced accuracy" in parent_log
    assert "training PAS_to_HE" not in parent_log


def test_config_is_checked_before_anything_is_written(tmp_path):
    config = load_config("classifier", tmp_path / "run", ["--config.train.epochs=0"])
    with pytest.raises(UserError, match=r"config key train\.epochs=0: expected numbers > 0"):
        launch.run_job(classifier_job, config)
    assert not (tmp_path / "run").exists()  # no workdir, no phantoms


def test_a_library_class_names_its_argument_and_the_cli_the_config_key(tmp_path):
    from kerasg2c.models.classifier import Classifier

    with pytest.raises(ValueError, match="loss='hinge'") as raised:
        Classifier(3, loss="hinge")
    assert "config key" not in str(raised.value)
    proc = run_python(trainer_args("classifier", tmp_path, "--config.model.loss=hinge"))
    assert proc.returncode == 2
    assert "error: config key model.loss='hinge': expected one of" in proc.stderr


@pytest.mark.parametrize(
    "name, job",
    [
        ("classifier", classifier_job),
        ("classifier_paper", classifier_job),
        ("histogan_paper_classifier", classifier_job),
        ("cyclegan", cyclegan_job),
        ("cyclegan_paper", cyclegan_job),
        ("cyclegan_paper_ihc", cyclegan_job),
        ("g2c", g2c_job),
        ("g2c_transfer", g2c_job),
        ("paired_translator", paired_translator_job),
        ("histogan", histogan_job),
        ("histogan_paper_pcam", histogan_job),
        ("histogan_paper_cervical", histogan_job),
    ],
)
def test_every_shipped_config_passes_its_check(name, job, tmp_path):
    config = config_files.load(os.path.join(REPO, "configs", f"{name}.py"))
    if config.get("g2c") and config.g2c.generators_dir:  # reuses generators trained before
        config.g2c.generators_dir = str(export_tiny_generators(tmp_path))
    job.check(config)


@pytest.mark.parametrize(
    "name, job, message",
    [
        ("cyclegan", cyclegan_job, "CycleGAN takes square images only"),
        ("g2c", g2c_job, "G2C takes square images only"),
        ("paired_translator", paired_translator_job, "the paired translator takes square"),
    ],
)
def test_square_only_jobs_refuse_an_image_height(name, job, message):
    config = config_files.load(os.path.join(REPO, "configs", f"{name}.py"))
    config.data.image_height = 32
    with pytest.raises(UserError, match=f"config key data.image_height=32: {message}"):
        job.check(config)


def _bad_json_root(data_root, tmp_path):
    root = tmp_path / "bad_json"
    shutil.copytree(data_root, root)
    (root / "dataset.json").write_text("{not json")
    return root


USER_ERROR_CASES = [
    ("classifier", ["--config.data.image_size=0"], "config key data.image_size=0"),
    ("classifier", ["--config.train.epochs=-1"], "config key train.epochs=-1"),
    ("classifier", ["--config.data.root={tmp}/nowhere"], "config key data.root: no such"),
    ("classifier", ["--config.data.root={bad_json}"], "dataset.json: not valid JSON"),
    (
        "classifier",
        ["--config.train.num_cpu_replicas=3", "--config.train.batch_size=8"],
        "config key train.batch_size=8: the global batch must divide evenly over the 3",
    ),
    ("g2c", ["--config.variant=PAS_KI67"], "config key variant='PAS_KI67'"),
    (
        "g2c",
        ["--config.g2c.generators_dir={tmp}"],
        "config key g2c.generators_dir: no generator",
    ),
    ("g2c", ["--config.cyclegan_stage.train.epochs=0"], "cyclegan_stage.train.epochs=0"),
    ("cyclegan", ["--config.cyclegan.condition=stain"], "cyclegan.condition='stain'"),
    ("g2c", ["--config.g2c.stain_source=oracle"], "g2c.stain_source='oracle'"),
    (
        "g2c",
        ["--config.g2c.stain_source=paired", "--config.hierarchy=s_vs_noa,ss_vs_gs"],
        "config key hierarchy: not with g2c.stain_source=paired",
    ),
    ("classifier", ["--config.data.max_train_patients=-2"], "max_train_patients=-2"),
    ("histogan", ["--config.data.max_train_patients=-2"], "data.max_train_patients=-2"),
]


@pytest.fixture(scope="module")
def user_error_runs(data_root, tmp_path_factory):
    """Every USER_ERROR_CASES command line, run four at a time (each is mostly a TensorFlow
    import, so running them side by side saves most of the suite's time on them)."""
    tmp = tmp_path_factory.mktemp("user_errors")
    names = {"tmp": tmp, "data": data_root, "bad_json": _bad_json_root(data_root, tmp)}
    commands = [
        trainer_args(trainer, tmp / f"run{i}", *(f.format(**names) for f in flags))
        for i, (trainer, flags, _) in enumerate(USER_ERROR_CASES)
    ]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda args: run_python(args, timeout=300), commands))


@pytest.mark.parametrize("case", range(len(USER_ERROR_CASES)), ids=lambda i: USER_ERROR_CASES[i][0])
def test_user_errors_are_one_line_and_exit_2(case, user_error_runs):
    message = USER_ERROR_CASES[case][2]
    proc = user_error_runs[case]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], proc.stderr[-3000:]


def test_traceback_flag_shows_where_a_user_error_came_from(tmp_path):
    args = trainer_args("classifier", tmp_path, "--config.data.image_size=0", "--traceback")
    proc = run_python(args, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "config key data.image_size=0" in proc.stderr


@pytest.mark.skipif(quiet_start._has_nvidia_driver(), reason="a GPU machine shows CUDA lines")
def test_a_machine_without_a_gpu_hears_nothing_of_cuda(tmp_path):
    proc = run_python(trainer_args("classifier", tmp_path, "--config.seed=-1"), timeout=120)
    assert proc.stderr.strip().splitlines() == [
        "error: config key seed=-1: expected numbers ≥ 0"
    ], proc.stderr[-3000:]
