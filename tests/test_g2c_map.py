"""The mechanism maps' core (`kerasg2c.jobs.arm_map`) and the G2C map command
(`python -m trainers.g2c_map`) on a 2-cell grid at tiny size."""

import csv

import pytest
from conftest import prefetched, run_python
from PIL import Image

from kerasg2c.evaluation import effect_map
from kerasg2c.jobs import arm_map, sweep_grid

TINY = [
    "data.phantoms.n_train=16", "data.phantoms.n_val=8", "data.phantoms.n_test=8",
    "data.phantoms.n_reference=2", "model.widths=(8,16)", "model.blocks_per_unit=1",
    "model.stem_width=8", "train.batch_size=8", "train.epochs=1",
    "g2c.freeze_generators_epochs=0",
]  # fmt: skip
MAP_FLAGS = [
    "--premise=data.phantoms.pas_matrix_fade=0,0.9",
    "--budget=data.max_train_patients=0",
    "--arms=variant:g2c.stain_source=PAS_ONLY:generated,PAS_ALL_PLUS:paired",
    "--seeds=0",
    *(f"--set={s}" for s in TINY),
]


@prefetched()
def map_run(tmp_path_factory):
    """The command on 2 premise levels × 1 budget × 2 arms × 1 seed, then again."""
    out = tmp_path_factory.mktemp("g2c_map") / "map"
    args = ["-m", "trainers.g2c_map", f"--out={out}", *MAP_FLAGS]
    first = run_python(args)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-4000:]
    return out, first, run_python(args)


def test_the_map_command_writes_its_table_and_figure(map_run):
    out, first, second = map_run
    assert first.stdout.count("running") == 4
    assert second.returncode == 0 and second.stdout.count("skip (done)") == 4
    with open(out / "map.csv") as f:
        rows = list(csv.DictReader(f))
    arms = ("PAS_ONLY/generated", "PAS_ALL_PLUS/paired")
    assert {(r["data.phantoms.pas_matrix_fade"], r["arm"]) for r in rows} == {
        (fade, arm) for fade in ("0", "0.9") for arm in arms
    }
    assert all(0 <= float(r["test balanced accuracy"]) <= 1 for r in rows)
    table = (out / "map.md").read_text()
    assert "| 0.9 | 0 | PAS_ALL_PLUS/paired | 0 |" in table
    assert "against the control arm `PAS_ONLY/generated`" in table
    for fade in ("0", "0.9"):  # one effect per cell, of one seed: no interval
        assert f"| PAS_ALL_PLUS/paired | {fade} | 0 | 1 | " in table
    assert Image.open(out / "map.png").size[0] > 300


def _grid():
    return sweep_grid.Grid(
        "trainers.g2c", "configs/g2c_map.py",
        (("p", ("0", "1")), ("b", ("10",)), ("arm", ("control", "method"))), (0, 1, 2),
    )  # fmt: skip


def test_each_arm_is_paired_with_the_control_of_its_seed():
    values = {("control", 0): 0.5, ("control", 1): 0.6, ("control", 2): 0.7}
    values |= {("method", 0): 0.6, ("method", 1): 0.8}  # seed 2 unfinished
    records = [
        {"premise": "1", "budget": "10", "arm": arm, "seed": seed, "value": v}
        for (arm, seed), v in values.items()
    ]
    cells = arm_map.summarise(records, _grid())
    assert list(cells) == [("method", "1", "10")]  # premise 0 has no run
    cell = cells["method", "1", "10"]
    assert cell["n"] == 2 and cell["effect"] == pytest.approx(0.15)
    assert cell["control"] == [0.5, 0.6] and cell["ci_low"] < 0.15 < cell["ci_high"]
    table = arm_map.format_markdown(records, cells, _grid(), "accuracy", "cmd")
    assert "| 1 | 10 | control | 0,1,2 | 0.600 ± 0.100 | 0.500, 0.600, 0.700 |" in table
    assert "| method | 1 | 10 | 2 | +0.150 [" in table


def test_a_map_needs_two_arms(tmp_path):
    proc = run_python(
        ["-m", "trainers.g2c_map", f"--out={tmp_path}", "--arms=variant=PAS_ONLY"], timeout=120
    )
    assert proc.returncode == 2
    assert "--arms=variant=PAS_ONLY: a map needs the control arm" in proc.stderr


@pytest.mark.parametrize("lower_is_better", [False, True])
def test_red_marks_the_arm_that_beats_the_control(lower_is_better):
    cmap = effect_map.diverging(lower_is_better)
    better, worse = (cmap(0.0), cmap(1.0)) if lower_is_better else (cmap(1.0), cmap(0.0))
    assert better[0] > better[2] + 0.2  # red: an error below the control, a score above
    assert worse[2] > worse[0] + 0.2  # blue
