"""The InfoWGAN-GP collapse diagnostic and label-free choice of weights
(`kerasg2c.jobs.infowgan_monitor`), a short run on easy cells, and the map command
(`python -m trainers.infowgan_map`) on a 2-cell grid at tiny size."""

import csv
import json
import pathlib

import numpy as np
import pytest
from conftest import prefetched, run_python
from PIL import Image

from kerasg2c.jobs import infowgan_map, infowgan_monitor
from kerasg2c.models.infowgan import InfoWGANGP
from kerasg2c.phantoms import cell_shapes

EASY_TYPES = ("lymphocyte", "megakaryocyte")  # small and dark against large and lobulated


def tiny_model(categories=3):
    model = InfoWGANGP(categories=categories, noise_dim=4, channels=8, image_size=16, seed=0)
    model(np.zeros((1, 16, 16, 3), np.float32))
    return model


def test_diagnose_counts_categories_in_use_and_recovery():
    model = tiny_model()
    images = np.random.default_rng(0).uniform(0, 1, (40, 16, 16, 3)).astype(np.float32)
    labels = np.arange(40) % 2
    codes = infowgan_monitor.generated_codes(model, 30, seed=0)
    row = infowgan_monitor.diagnose(model, images, labels, codes=codes)
    clusters = np.asarray(model(images)).argmax(axis=1)
    shares = np.bincount(clusters, minlength=3) / 40
    assert row["category_shares"] == pytest.approx(shares, abs=1e-4)
    assert row["categories_in_use"] == int(np.sum(shares >= 0.25 / 3))
    fakes = np.asarray(model.generate(*codes))
    assert row["q_recovery"] == np.mean(np.asarray(model(fakes)).argmax(axis=1) == codes[0])
    assert {"q_purity", "q_entropy", "q_f_score"} <= set(row)
    assert "q_purity" not in infowgan_monitor.diagnose(model, images, None, codes=codes)
    # The generated cells are fixed for a run: the same codes give the same value.
    again = infowgan_monitor.diagnose(model, images, labels, codes=codes)
    assert again["q_recovery"] == row["q_recovery"]


def test_a_collapsed_point_says_so(caplog):
    row = {"categories_in_use": 2, "category_shares": [0.5, 0.5, 0, 0, 0], "q_recovery": 0.9}
    with caplog.at_level("INFO", logger="absl"):
        infowgan_monitor.log_point(row, 120, 5)
        infowgan_monitor.log_point({**row, "categories_in_use": 5}, 160, 5)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "collapsed at 120 generator updates" in warnings[0]
    assert "2 of its 5 categories" in warnings[0]


def _row(in_use, recovery, confidence=0.5):
    return {"categories_in_use": in_use, "q_recovery": recovery, "q_confidence": confidence}


def test_choose_prefers_the_latest_best_point_by_each_criterion():
    rows = [_row(2, 0.95), _row(5, 0.70), _row(5, 0.80), _row(5, 0.80), _row(4, 0.99)]
    for r, step in zip(rows, range(40, 240, 40)):
        r["step"] = step
    assert infowgan_monitor.choose(rows, "last")["step"] == 200
    assert infowgan_monitor.choose(rows, "q_recovery")["step"] == 200
    assert infowgan_monitor.choose(rows, "in_use_recovery")["step"] == 160  # latest of equals
    assert infowgan_monitor.choose(rows, "q_confidence")["step"] == 200


def test_selector_keeps_the_chosen_weights_and_survives_a_resume(tmp_path):
    model = tiny_model()
    variable = model.critic.category_variables[0]
    for step, recovery in ((40, 0.3), (80, 0.6), (120, 0.5)):
        variable.assign(np.full(variable.shape, step / 1000, np.float32))
        selector = infowgan_monitor.Selector(model, "q_recovery", str(tmp_path))
        selector.offer(_row(3, recovery), step)  # a new Selector each time: a resumed run
    point = selector.restore(last_step=120)
    assert point == {"step": 80, "value": 0.6, "criterion": "q_recovery"}
    np.testing.assert_allclose(np.asarray(variable), 0.08)
    last = infowgan_monitor.Selector(model, "last", str(tmp_path / "other"))
    assert not last.offer(_row(3, 0.9), 40)
    assert last.restore(last_step=40) == {"criterion": "last", "step": 40}
    with pytest.raises(ValueError, match="criterion='best'"):
        infowgan_monitor.Selector(model, "best", str(tmp_path))


def test_weight_average_is_the_mean_of_the_last_points_and_survives_a_resume(tmp_path):
    model = tiny_model()
    variable = model.critic.category_variables[0]
    for step in (40, 80, 120, 160):
        variable.assign(np.full(variable.shape, step, np.float32))
        average = infowgan_monitor.WeightAverage(model, 3, str(tmp_path))  # a resumed run
        average.add(step)
    assert average.steps == [80, 120, 160]
    # Q with the averaged critic differs from the live one; the live weights come back.
    seen = average.evaluate(lambda: float(np.asarray(variable).mean()))
    assert seen == pytest.approx(120.0) and np.asarray(variable).mean() == 160
    # A replayed step replaces the snapshots at or after it.
    variable.assign(np.full(variable.shape, 1.0, np.float32))
    average.add(120)
    assert average.steps == [80, 120]
    assert average.apply() == {"criterion": "average", "step": 120, "points": [80, 120]}
    np.testing.assert_allclose(np.asarray(variable), (80 + 1) / 2)
    rows = [{"step": 40, "average": {"q_purity": 0.7}}, {"step": 80, "average": {"q_purity": 0.9}}]
    assert infowgan_monitor.choose(rows, "average") == {"step": 80, "q_purity": 0.9}
    with pytest.raises(ValueError, match="points=0"):
        infowgan_monitor.WeightAverage(model, 0, str(tmp_path))


def write_easy_cells(root: pathlib.Path) -> None:
    """Two easily told types (`EASY_TYPES`) of cell phantoms as a DATA_ROOT."""
    for s, (split, n) in enumerate((("train", 64), ("val", 8), ("test", 40))):
        for t, kind in enumerate(EASY_TYPES):
            for i in range(n // 2):
                image, _ = cell_shapes.make_cell(np.random.default_rng([s, t, i]), kind)
                path = root / "labeled" / split / kind / f"p{i % 4}__c{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(path)


@prefetched()
def easy_run(tmp_path_factory):
    """A 60-update run (k = 2, width 8) on two easy types, weights chosen by the most
    categories in use, then Q's recovery of c."""
    tmp = tmp_path_factory.mktemp("easy")
    write_easy_cells(tmp / "root")
    args = [
        "-m", "trainers.infowgan", "--config=configs/infowgan.py",
        f"--config.workdir={tmp / 'run'}", f"--config.data.root={tmp / 'root'}",
        "--config.infogan.categories=2", "--config.infogan.channels=8",
        "--config.infogan.noise_dim=8", "--config.infogan.n_critic=1",
        "--config.train.batch_size=16", "--config.train.epochs=4",
        "--config.train.steps_per_epoch=15", "--config.optimizer.learning_rate=2e-3",
        "--config.infogan.recovery_cells=100", "--config.infogan.grid_columns=4",
        "--config.infogan.select=in_use_recovery",
    ]  # fmt: skip
    proc = run_python(args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return tmp / "run", proc.stderr


def test_a_short_run_on_easy_cells_uses_every_category(easy_run):
    workdir, log = easy_run
    report = json.loads((workdir / "report.json").read_text())
    assert [r["step"] for r in report["history"]] == [15, 30, 45, 60]
    final = report["diagnostic"]
    assert final["categories_in_use"] == 2
    assert final["q_recovery"] >= 0.75  # chance: 0.5
    assert report["selection"]["criterion"] == "in_use_recovery"
    chosen = next(r for r in report["history"] if r["step"] == report["selection"]["step"])
    assert final["q_purity"] == pytest.approx(chosen["q_purity"])
    assert report["clustering"]["infowgan_q"]["purity"] == pytest.approx(chosen["q_purity"])
    assert (workdir / "selected" / "model.weights.h5").exists()
    assert "the best point" in log
    # Every point also measured Q with the critic averaged over the last points (up to 5).
    assert all(r["average"]["categories_in_use"] >= 1 for r in report["history"])
    first = report["history"][0]
    assert first["average"]["q_purity"] == pytest.approx(first["q_purity"])  # one point


MAP_FLAGS = [
    "--vary=data.phantoms.nuisance=0,1", "--seeds=0", "--budgets=2,4", "--eval_every=2",
    "--set=data.phantoms.n_train=40", "--set=data.phantoms.n_val=5",
    "--set=data.phantoms.n_test=20", "--set=infogan.channels=8", "--set=infogan.noise_dim=8",
    "--set=infogan.n_critic=1", "--set=train.batch_size=4", "--set=infogan.recovery_cells=20",
    "--set=infogan.grid_columns=4", "--set=infogan.select=q_recovery",
]  # fmt: skip


@prefetched()
def map_run(tmp_path_factory):
    """The map command on 2 nuisance levels × 1 seed × budgets 2 and 4, then the same
    command again (everything finished: nothing reruns)."""
    out = tmp_path_factory.mktemp("map") / "map"
    args = ["-m", "trainers.infowgan_map", f"--out={out}", *MAP_FLAGS]
    first = run_python(args)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-4000:]
    second = run_python(args)
    return out, first, second


def test_the_map_command_writes_its_table_and_figure(map_run):
    out, first, second = map_run
    assert first.stdout.count("running") == 2 and "skip (done)" not in first.stdout
    assert second.returncode == 0 and second.stdout.count("skip (done)") == 2
    with open(out / "map.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * len(infowgan_map.ARMS)  # levels × budgets × arms
    assert {r["variant"] for r in rows} == {"nuisance=0", "nuisance=1"}
    assert {r["budget"] for r in rows} == {"2", "4"}
    for r in rows:
        assert 0.2 <= float(r["purity"]) <= 1 and 0 <= float(r["f_score"]) <= 1
    table = (out / "map.md").read_text()
    assert table.count("| nuisance=1 | 4 | 0 |") == len(infowgan_map.ARMS)
    assert "Each variant against `nuisance=0`" in table
    assert Image.open(out / "map.png").size[0] > 600
    # Level 1's phantoms differ from the control's, which are today's phantoms.
    control = out / "data.phantoms.nuisance-0__seed-0" / "data" / "labeled" / "test"
    level = out / "data.phantoms.nuisance-1__seed-0" / "data" / "labeled" / "test"
    name = sorted(p.relative_to(control) for p in control.rglob("*.png"))[0]
    assert (control / name).read_bytes() != (level / name).read_bytes()


def test_the_map_refuses_a_budget_off_the_evaluation_points(tmp_path):
    proc = run_python(
        ["-m", "trainers.infowgan_map", f"--out={tmp_path}", "--budgets=30", "--eval_every=40"]
    )
    assert proc.returncode == 2
    assert "--budgets=30: each must be a positive multiple of --eval_every=40" in proc.stderr
