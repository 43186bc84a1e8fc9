"""`python -m trainers.g2c` end to end on tiny phantoms with tiny generators."""

import json

import pytest
import tensorflow as tf
from conftest import run_python, trainer_args

from kerasg2c.models.resnet_generator import ResnetGenerator

TINY = [
    "--config.data.phantoms.n_train=24",
    "--config.data.phantoms.n_val=8",
    "--config.data.phantoms.n_test=8",
    "--config.data.phantoms.n_reference=2",
    "--config.data.phantoms.size=32",
    "--config.data.image_size=32",
    "--config.model.widths=(8,16)",
    "--config.model.blocks_per_unit=1",
    "--config.model.stem_width=8",
    "--config.train.batch_size=8",
    "--config.train.epochs=3",
    "--config.g2c.freeze_generators_epochs=1",
]


@pytest.fixture(scope="module")
def generators_dir(tmp_path_factory):
    """Generators exported the way the CycleGAN stage does (all named generator_ab)."""
    folder = tmp_path_factory.mktemp("generators")
    for stain in ("HE", "MASSON", "PASM"):
        generator = ResnetGenerator(ngf=4, n_blocks=1, name="generator_ab")
        generator(tf.zeros((1, 32, 32, 3)))
        generator.save(folder / f"{stain}.keras")
    return folder


def command(workdir, generators_dir, *extra):
    return trainer_args(
        "g2c", workdir, f"--config.g2c.generators_dir={generators_dir}", *TINY, *extra
    )


def test_pas_all_plus_trains_and_reports(tmp_path, generators_dir):
    proc = run_python(command(tmp_path, generators_dir))
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["trainer"] == "g2c" and report["variant"] == "PAS_ALL_PLUS"
    params = report["parameters"]
    assert params["generators"] > 0 and params["attention"] > 0
    assert [row["epoch"] for row in report["history"]] == [1, 2, 3]
    assert report["metrics"]["test"]["n"] == 8
    assert (tmp_path / "model.weights.h5").exists()


def test_unknown_variant_names_the_key(tmp_path, generators_dir):
    proc = run_python(command(tmp_path, generators_dir, "--config.variant=PAS_KI67"))
    assert proc.returncode != 0 and "config key variant='PAS_KI67'" in proc.stderr


def test_missing_generators_name_the_key(tmp_path):
    proc = run_python(command(tmp_path, tmp_path / "none", "--config.variant=PAS_HE"))
    assert proc.returncode != 0 and "config key g2c.generators_dir" in proc.stderr


def test_without_generators_the_cyclegan_stage_runs_first(tmp_path):
    stage = [
        "--config.cyclegan_stage.model.ngf=4",
        "--config.cyclegan_stage.model.n_blocks=1",
        "--config.cyclegan_stage.model.ndf=4",
        "--config.cyclegan_stage.cyclegan.n_unlabeled=8",
        "--config.cyclegan_stage.train.epochs=1",
        "--config.cyclegan_stage.optimizer.constant_epochs=1",
        "--config.cyclegan_stage.optimizer.decay_epochs=0",
    ]
    cmd = trainer_args(
        "g2c",
        tmp_path,
        "--config.variant=PAS_HE",
        "--config.data.phantoms.n_reference=8",  # the stage's unpaired patches
        *[flag for flag in TINY if "n_reference" not in flag],
        *stage,
    )
    proc = run_python(cmd)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "cyclegan" / "generators" / "HE.keras").exists()
    assert not (tmp_path / "cyclegan" / "data").exists()  # one phantom set, shared
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["variant"] == "PAS_HE" and report["parameters"]["generators"] > 0
    cyclegan_report = json.loads((tmp_path / "cyclegan" / "report.json").read_text())
    assert list(cyclegan_report["stains"]) == ["HE"]
    # A rerun finds the generators and does not train the stage again.
    again = run_python(cmd)
    assert again.returncode == 0 and "training PAS_to_HE" not in again.stderr
