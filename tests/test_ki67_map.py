"""The conditional CycleGAN map (`python -m trainers.ki67_map`) on a 2-cell grid at tiny
size: its table and figure, the stages its runs share, and the condition sources
(`kerasg2c.jobs.ki67_conditions`)."""

import csv

import numpy as np
import pytest
from conftest import prefetched, run_python
from PIL import Image

from kerasg2c.jobs import ki67_conditions

TINY = [
    "data.phantoms.n_val=4", "data.phantoms.n_test=4",
    "data.phantoms.n_reference=2", "data.phantoms.size=96", "data.image_size=96",
    "ki67.figure_rows=2", "mil_stage.mil.instance_size=32", "mil_stage.model.widths=(8,)",
    "mil_stage.model.stem_width=8", "mil_stage.train.epochs=1", "mil_stage.train.batch_size=4",
    "cyclegan_stage.model.ngf=8", "cyclegan_stage.model.ndf=4", "cyclegan_stage.model.n_blocks=1",
    # enough identity warm-up at a high rate that the translations hold detectable nuclei
    "cyclegan_stage.cyclegan.identity_warmup_epochs=6",
    "cyclegan_stage.optimizer.learning_rate=0.002", "cyclegan_stage.optimizer.constant_epochs=1",
    "cyclegan_stage.train.epochs=1", "cyclegan_stage.train.batch_size=4",
]  # fmt: skip
MAP_FLAGS = [
    "--premise=data.phantoms.he_cue=1,0",
    "--budget=data.phantoms.n_train=12",
    "--arms=ki67.condition_source=shuffled,true",
    "--seeds=0",
    "--parallel=2",
    *(f"--set={s}" for s in TINY),
]


@prefetched()
def map_run(tmp_path_factory):
    """The command on 2 premise levels × 1 budget × 2 condition sources × 1 seed."""
    out = tmp_path_factory.mktemp("ki67_map") / "map"
    proc = run_python(["-m", "trainers.ki67_map", f"--out={out}", *MAP_FLAGS])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return out, proc


def test_the_map_command_writes_its_table_and_figure(map_run):
    out, proc = map_run
    assert proc.stdout.count("... running") == 4
    with open(out / "map.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["data.phantoms.he_cue"], r["arm"]) for r in rows} == {
        (cue, arm) for cue in ("1", "0") for arm in ("unconditional", "shuffled", "true")
    }
    assert all(0 <= float(r["Ki-67 index MAE vs true (lower is better)"]) <= 1 for r in rows)
    table = (out / "map.md").read_text()
    assert "against the control arm `unconditional`" in table
    assert "| true | 0 | 12 | 1 | " in table
    assert Image.open(out / "map.png").size[0] > 300


def test_the_runs_of_a_level_share_the_mil_stages_and_the_raw_cyclegan(map_run):
    out = map_run[0]
    stages = sorted(p.name.split("-")[0] for p in (out / "stages").iterdir() if p.is_dir())
    # one of each per H&E cue level (two), not per run (four)
    assert stages == ["cyclegan_raw"] * 2 + ["mil_HE"] * 2 + ["mil_KI67"] * 2
    for run in out.glob("data.phantoms.he_cue-*"):
        assert (run / "cyclegan_conditional").is_dir() and not (run / "cyclegan_raw").exists()


def test_the_condition_sources():
    true = {"HE": {"train": np.array([0, 0, 1, 1, 1, 0]), "val": np.array([1, 0])}}
    predicted = {"HE": {"train": np.array([1, 0, 1, 1, 1, 1]), "val": np.array([1, 1])}}
    assert ki67_conditions.conditions("mil", predicted, true, 0) is predicted
    assert ki67_conditions.conditions("true", predicted, true, 0) is true
    shuffled = ki67_conditions.conditions("shuffled", predicted, true, 0)
    again = ki67_conditions.conditions("shuffled", predicted, true, 0)
    for split, labels in true["HE"].items():
        assert sorted(shuffled["HE"][split]) == sorted(labels)  # the same class mix
        np.testing.assert_array_equal(shuffled["HE"][split], again["HE"][split])
    with pytest.raises(ValueError, match="source must be one of"):
        ki67_conditions.conditions("oracle", predicted, true, 0)
