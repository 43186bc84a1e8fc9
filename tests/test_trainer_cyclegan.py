"""`python -m trainers.cyclegan` end to end on tiny phantoms: translators,
fidelity report, exported generators, a SIGKILLed run resumed bitwise."""

import json
import re
import signal
import subprocess

import keras
import numpy as np
from conftest import checkpoint_state, prefetched, run_python, signal_at, trainer_args

import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)

TINY = [
    "--config.data.phantoms.n_train=24",
    "--config.data.phantoms.n_val=8",
    "--config.data.phantoms.n_test=8",
    "--config.data.phantoms.n_reference=32",
    "--config.data.phantoms.size=32",
    "--config.data.image_size=32",
    "--config.cyclegan.target_stains=PASM",
    "--config.cyclegan.n_unlabeled=32",
    "--config.cyclegan.identity_warmup_epochs=2",
    "--config.model.ngf=8",
    "--config.model.n_blocks=2",
    "--config.model.ndf=8",
    "--config.optimizer.learning_rate=0.001",
    "--config.optimizer.constant_epochs=2",
    "--config.optimizer.decay_epochs=2",
    "--config.train.epochs=4",
    "--config.train.checkpoint_every_steps=2",
    "--config.train.log_every_steps=1",
    "--config.train.deterministic=True",
]


def command(workdir, *extra):
    return trainer_args("cyclegan", workdir, *TINY, *extra)


@prefetched()
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cyclegan")
    proc = run_python(command(workdir))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


@prefetched()
def killed_run(tmp_path_factory):
    """(workdir, (exit code, stderr after the kill)) of the run SIGKILLed after step 11
    (8 steps per epoch; checkpoint: step 10)."""
    workdir = tmp_path_factory.mktemp("killed")
    return workdir, signal_at(command(workdir), "epoch 2/4 step 3/8", signal.SIGKILL)


def test_report_has_the_fidelity_table(finished_run):
    report = json.loads((finished_run / "report.json").read_text())
    assert report["source_stain"] == "PAS" and list(report["stains"]) == ["PASM"]
    result = report["stains"]["PASM"]
    assert [row["epoch"] for row in result["history"]] == [1, 2, 3, 4]
    for split in ("val", "test"):
        table = result[split]
        assert set(table) >= {"model", "identity", "reinhard", "cycle_reconstruction_error"}
        assert 0.0 < table["model"]["ssim"]["mean"] <= 1.0
    # g_m(x) is closer in colour to the true PASM image than the PAS input is.
    test = result["test"]
    assert test["model"]["colour_error"]["mean"] < 0.5 * test["identity"]["colour_error"]["mean"]


def test_exported_generator_translates(finished_run):
    generator = keras.saving.load_model(finished_run / "generators" / "PASM.keras")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    y = np.asarray(generator(x))
    assert y.shape == (2, 32, 32, 3) and np.all(np.abs(y) <= 1.0)
    assert (finished_run / "PAS_to_PASM" / "samples" / "PAS_to_PASM_epoch004.png").exists()


def test_killed_run_resumes_to_the_same_state(finished_run, killed_run):
    killed_dir, (returncode, _) = killed_run
    assert returncode == -signal.SIGKILL
    cmd = command(killed_dir)
    resumed = run_python(cmd)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    # The kill lands once the parent has read the step-11 line; under load the run may be a
    # few steps further by then, so it resumes from its last checkpoint at step 10 or later.
    step = re.search(r"resumed from \S+ at step (\d+)", resumed.stderr)
    assert step and 10 <= int(step.group(1)) < 32, resumed.stderr[-2000:]
    expected, got = (checkpoint_state(d / "PAS_to_PASM") for d in (finished_run, killed_dir))
    assert expected.keys() == got.keys()
    for name in expected:  # networks, optimizers and image pools, bitwise
        np.testing.assert_array_equal(expected[name], got[name], err_msg=name)


def test_unknown_target_stain_names_the_key(tmp_path):
    proc = run_python(command(tmp_path, "--config.cyclegan.target_stains=IHC"))
    assert proc.returncode != 0
    assert "config key cyclegan.target_stains" in proc.stderr


@prefetched()
def run_without_ground_truth(tmp_path_factory):
    """(workdir, process) of a 1-epoch run on phantoms stripped of their target-stain
    truth, as real data are."""
    tmp_path = tmp_path_factory.mktemp("no_truth")
    data = tmp_path / "data"
    phantoms = run_python(
        [
            "-m",
            "kerasg2c.phantoms.glomeruli",
            f"--out={data}",
            "--n_train=8",
            "--n_val=4",
            "--n_test=4",
            "--n_reference=8",
            "--size=32",
        ]
    )
    assert phantoms.returncode == 0, phantoms.stderr[-2000:]
    for folder in (data / "paired").iterdir():  # real data: no target-stain truth
        subprocess.run(["rm", "-r", str(folder)], check=True)
    proc = run_python(
        command(
            tmp_path / "run",
            f"--config.data.root={data}",
            "--config.train.epochs=1",
            "--config.cyclegan.n_unlabeled=8",
        )
    )
    return tmp_path / "run", proc


def test_without_ground_truth_reports_frechet_distance(run_without_ground_truth):
    run, proc = run_without_ground_truth
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads((run / "report.json").read_text())["stains"]["PASM"]
    for split in ("val", "test"):
        assert result[split]["frechet_distance"] > 0
        assert 0 < result[split]["cycle_reconstruction_error"] < 2


@prefetched()
def conditional_run(tmp_path_factory):
    """(workdir, process) of a 1-epoch run of the class-conditional variant."""
    workdir = tmp_path_factory.mktemp("conditional")
    proc = run_python(
        command(
            workdir,
            "--config.cyclegan.condition=labels",
            "--config.model.padding=zero",
            "--config.train.epochs=1",
        )
    )
    return workdir, proc


def test_conditional_variant_trains_on_class_labels(conditional_run):
    workdir, proc = conditional_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads((workdir / "report.json").read_text())
    assert report["condition"] == "labels"
    # Conditional generators take 3 image + 3 class channels.
    generator = keras.saving.load_model(workdir / "generators" / "PASM.keras")
    assert generator.get_build_config()["input_shape"][-1] == 6
