"""Seed/variant sweeps (`python -m kerasg2c.tools.sweep`): the grid, resuming, the summary against a
hand computation, flag errors. Runs use tests/workers/fake_trainer.py, which writes a report
at once; no TensorFlow."""

import json
import os
import shutil
import sys

import numpy as np
import pytest
from conftest import REPO, run_python
from scipy import stats

from kerasg2c.errors import UserError
from kerasg2c.jobs import sweep, sweep_grid

FAKE = [sys.executable, os.path.join(REPO, "tests", "workers", "fake_trainer.py")]
G2C_CONFIG = os.path.join(REPO, "configs", "g2c.py")


def fake_grid(vary, seeds=(0, 1)) -> sweep_grid.Grid:
    return sweep_grid.Grid("fake", "cfg.py", tuple((k, tuple(v)) for k, v in vary), tuple(seeds))


def calls(out, cell_name) -> int:
    with open(os.path.join(out, cell_name, "calls.txt")) as f:
        return len(f.readlines())


def test_grid_expands_every_combination_seed_by_seed():
    grid = sweep_grid.make_grid(
        None,
        G2C_CONFIG,
        ["variant=PAS_ONLY,PAS_ALL_PLUS", "data.root=/data/a b,/data/c"],
        "0,1",
        ["train.epochs=6"],
    )
    assert grid.trainer == "trainers.g2c"  # from the config's file name
    cells = grid.cells()
    assert [c.label for c in cells[:4]] == [
        "variant=PAS_ONLY data.root=/data/a b seed=0",
        "variant=PAS_ONLY data.root=/data/c seed=0",
        "variant=PAS_ALL_PLUS data.root=/data/a b seed=0",
        "variant=PAS_ALL_PLUS data.root=/data/c seed=0",
    ]
    assert len(cells) == 8 and {c.seed for c in cells[4:]} == {1}
    assert cells[0].name == "variant-PAS_ONLY__data.root-_data_a_b__seed-0"
    assert cells[-1].name == "variant-PAS_ALL_PLUS__data.root-_data_c__seed-1"
    assert grid.trainer_args(cells[-1], "out/x") == [
        f"--config={os.path.normpath(G2C_CONFIG)}",
        "--config.seed=1",
        "--config.workdir=out/x",
        "--config.variant=PAS_ALL_PLUS",
        "--config.data.root=/data/c",
        "--config.train.epochs=6",
    ]
    assert grid.baseline(None) == ("variant", "PAS_ONLY")
    assert grid.baseline("data.root=/data/c") == ("data.root", "/data/c")
    # Without --vary there is one cell per seed and no baseline.
    alone = sweep_grid.make_grid("classifier", G2C_CONFIG, [], "3", [])
    assert alone.trainer == "trainers.classifier"
    assert [c.name for c in alone.cells()] == ["seed-3"] and alone.baseline(None) is None


def test_linked_keys_vary_together():
    grid = sweep_grid.make_grid(
        None,
        G2C_CONFIG,
        ["variant:g2c.stain_source=PAS_ONLY:generated,PAS_ALL_PLUS:paired"],
        "0",
        [],
    )
    cells = grid.cells()
    assert [c.name for c in cells] == [
        "variant_g2c.stain_source-PAS_ONLY_generated__seed-0",
        "variant_g2c.stain_source-PAS_ALL_PLUS_paired__seed-0",
    ]
    assert grid.trainer_args(cells[1], "w")[-2:] == [
        "--config.variant=PAS_ALL_PLUS",
        "--config.g2c.stain_source=paired",
    ]
    assert grid.baseline(None) == ("variant:g2c.stain_source", "PAS_ONLY:generated")


@pytest.mark.parametrize(
    "args, message",
    [
        (["variant"], "--vary: expected key=v1,v2, got 'variant'"),
        (["variant:g2c.stain_source=A:b,C"], "--vary: linked keys k1:k2 need values a:b"),
        (["variant="], "--vary: expected key=v1,v2, got 'variant='"),
        (["variant=A,,B"], "--vary: expected key=v1,v2 with distinct non-empty values"),
        (["variant=A", "variant=B"], "--vary: variant is given twice"),
        (["seed=1,2"], "--vary: the sweep sets seed itself"),
        (["data.root=a/b,a_b"], "--vary: two values give the same folder name"),
    ],
)
def test_bad_vary_is_refused_naming_the_flag(args, message):
    with pytest.raises(UserError, match="^" + message.replace("(", r"\(")):
        sweep_grid.make_grid("g2c", G2C_CONFIG, args, "0", [])


def test_bad_flags_are_refused_naming_the_flag(tmp_path):
    def refused(trainer="g2c", config=G2C_CONFIG, vary=(), seeds="0", sets=()):
        with pytest.raises(UserError) as e:
            sweep_grid.make_grid(trainer, config, list(vary), seeds, list(sets))
        return str(e.value)

    assert refused(trainer="nope").startswith("--trainer: no trainer module trainers.nope")
    assert refused(trainer="nope.trainer").startswith("--trainer: no trainer module nope.trainer")
    assert refused(trainer="sweep").startswith("--trainer: no trainer module trainers.sweep")
    transfer = os.path.join(REPO, "configs", "g2c_transfer.py")
    assert refused(trainer=None, config=transfer).startswith("--trainer: no trainers.g2c_transfer")
    assert refused(config=str(tmp_path / "x.py")).startswith("--config: no such file")
    assert refused(seeds="0,x").startswith("--seeds: expected integers")
    assert refused(sets=["train.epochs"]).startswith("--set: expected key=value")
    assert (
        refused(vary=["variant=A,B"], sets=["variant=C"]) == "--set: variant is also a --vary key"
    )
    grid = fake_grid([("variant", ["A", "B"])])
    with pytest.raises(UserError, match="^--baseline: expected one --vary key=value"):
        grid.baseline("variant=C")


def test_a_rerun_runs_only_the_cells_not_done(tmp_path, capsys):
    out = str(tmp_path / "sweep")
    grid = fake_grid([("variant", ["PAS_ONLY", "PAS_ALL_PLUS", "BROKEN"])])
    sweep.record_grid(grid, out)
    failed = sweep.run_sweep(grid, out, parallel=3, launcher=FAKE)
    assert [c.label for c in failed] == ["variant=BROKEN seed=0", "variant=BROKEN seed=1"]
    printed = capsys.readouterr().out
    assert "[1/6] variant=PAS_ONLY seed=0 ... done in " in printed
    broken_log = os.path.join(out, "variant-BROKEN__seed-1", "sweep.log")
    assert "[6/6] variant=BROKEN seed=1 ... FAILED (exit 2) after " in printed
    assert f" s; log: {broken_log}\n" in printed
    assert "\n  error: config key variant=BROKEN: expected a known variant\n" in printed
    with open(broken_log) as f:
        assert "--config.seed=1" in f.readline() and "error: config key" in f.read()

    # Again: only the failed cells run.
    assert len(sweep.run_sweep(grid, out, launcher=FAKE)) == 2
    printed = capsys.readouterr().out
    assert printed.count("skip (done)") == 4 and printed.count("FAILED") == 2
    done = [c.name for c in grid.cells() if "BROKEN" not in c.name]
    assert [calls(out, n) for n in done] == [1, 1, 1, 1]
    assert calls(out, "variant-BROKEN__seed-0") == 2

    # A deleted cell is run again, the others are not.
    shutil.rmtree(os.path.join(out, "variant-PAS_ALL_PLUS__seed-1"))
    sweep.run_sweep(grid, out, launcher=FAKE)
    assert "[5/6] variant=PAS_ALL_PLUS seed=1 ... done in" in capsys.readouterr().out
    assert [calls(out, n) for n in done] == [1, 1, 1, 1]

    # The same --out with another grid is refused.
    sweep.record_grid(grid, out)
    with pytest.raises(UserError, match="^--out: .* holds another sweep"):
        sweep.record_grid(fake_grid([("variant", ["PAS_ONLY"])]), out)


def per_patient(out, name):
    with open(os.path.join(out, name, "report.json")) as f:
        return json.load(f)["metrics"]["test"]["per_patient_accuracy"]


def test_the_summary_matches_a_hand_computation(tmp_path):
    out = str(tmp_path / "sweep")
    seeds = (0, 1, 2)
    grid = fake_grid([("variant", ["PAS_ONLY", "PAS_ALL_PLUS"])], seeds)
    assert sweep.run_sweep(grid, out, launcher=FAKE) == []
    sweep.summarize(grid, out, "test", grid.baseline(None), "python -m kerasg2c.tools.sweep ...")
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)

    a = [per_patient(out, f"variant-PAS_ONLY__seed-{s}") for s in seeds]
    b = [per_patient(out, f"variant-PAS_ALL_PLUS__seed-{s}") for s in seeds]
    balanced_b = [np.mean(list(r.values())) - 0.01 for r in b]
    balanced_a = [np.mean(list(r.values())) - 0.01 for r in a]
    base_row, row = summary["metrics"]["balanced_accuracy"]
    assert row["n"] == 3 and row["values"] == pytest.approx(balanced_b)
    assert row["mean"] == pytest.approx(np.mean(balanced_b))
    assert row["sd"] == pytest.approx(np.std(balanced_b, ddof=1))
    assert row["mean_difference"] == pytest.approx(np.mean(balanced_b) - np.mean(balanced_a))
    assert base_row["mean_difference"] is None

    # The t-test pools (seed, patient) pairs: 3 seeds x 6 patients.
    pooled_a = [r[p] for r in a for p in sorted(r)]
    pooled_b = [r[p] for r in b for p in sorted(r)]
    reference = stats.ttest_rel(pooled_b, pooled_a)
    t = summary["rows"][1]["t_test"]
    assert t["n"] == 18 and t["seeds"] == [0, 1, 2]
    assert t["t"] == pytest.approx(reference.statistic)
    assert t["p"] == pytest.approx(reference.pvalue)
    assert t["mean_difference"] == pytest.approx(np.mean(np.subtract(pooled_b, pooled_a)))
    assert summary["rows"][0]["t_test"] is None and summary["rows"][1]["baseline"] == (
        "variant=PAS_ONLY"
    )

    assert "macro_f1" not in summary["metrics"]  # the reports do not have it
    for metric in ("accuracy", "balanced_accuracy", "mean_patient_accuracy"):
        assert os.path.getsize(os.path.join(out, f"{metric}.png")) > 0
    with open(os.path.join(out, "summary.md")) as f:
        markdown = f.read()
    assert "    python -m kerasg2c.tools.sweep ...\n" in markdown
    assert "| variant | n | mean ± sd | seeds 0, 1, 2 | Δ | per-patient t |" in markdown
    expected = (
        f"| PAS_ALL_PLUS | 3 | {np.mean(balanced_b):.4f} ± {np.std(balanced_b, ddof=1):.4f} | "
        + ", ".join(f"{v:.4f}" for v in balanced_b)
        + f" | {np.mean(balanced_b) - np.mean(balanced_a):+.4f} | t={reference.statistic:.3f}, "
        f"p={reference.pvalue:.3g} (n=18) |"
    )
    assert expected in markdown


def test_two_vary_keys_compare_within_the_other_key(tmp_path):
    out = str(tmp_path / "sweep")
    grid = fake_grid([("variant", ["PAS_ONLY", "PAS_ALL_PLUS"]), ("size", ["10", "20"])])
    sweep.run_sweep(grid, out, launcher=FAKE)
    shutil.rmtree(os.path.join(out, "variant-PAS_ALL_PLUS__size-20__seed-1"))  # not finished
    sweep.summarize(grid, out, "test", grid.baseline("size=10"), "cmd")
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert [(r["label"], r["baseline"]) for r in summary["rows"]] == [
        ("variant=PAS_ONLY size=10", None),
        ("variant=PAS_ONLY size=20", "variant=PAS_ONLY size=10"),
        ("variant=PAS_ALL_PLUS size=10", None),
        ("variant=PAS_ALL_PLUS size=20", "variant=PAS_ALL_PLUS size=10"),
    ]
    assert summary["not_finished"] == ["variant=PAS_ALL_PLUS size=20 seed=1"]
    last = summary["metrics"]["accuracy"][3]
    assert last["n"] == 1 and last["sd"] is None and last["values"][1] is None
    # size adds 0.001 * size to every patient: +0.01 from 10 to 20, on the one shared seed.
    assert last["mean_difference"] == pytest.approx(0.01)
    t = summary["rows"][3]["t_test"]  # constant differences: t undefined
    assert t["n"] == 6 and t["seeds"] == [0] and t["t"] is None
    assert os.path.getsize(os.path.join(out, "accuracy.png")) > 0


def test_the_command_line_runs_resumes_and_refuses(tmp_path):
    out = tmp_path / "sweep"
    env = {"PYTHONPATH": os.path.join(REPO, "tests")}  # the fake as module workers.fake_trainer
    args = [
        "-m",
        "kerasg2c.tools.sweep",
        "--trainer=workers.fake_trainer",
        "--config=configs/g2c.py",
        "--seeds=0,1",
        "--vary=variant=PAS_ONLY,PAS_ALL_PLUS",
        f"--out={out}",
    ]
    proc = run_python(args, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[4/4] variant=PAS_ALL_PLUS seed=1 ... done in" in proc.stdout
    for name in ("sweep.json", "summary.md", "summary.json", "accuracy.png"):
        assert (out / name).is_file(), name
    assert (out / "variant-PAS_ONLY__seed-0" / "report.json").is_file()

    again = run_python([*args, "--baseline=variant=PAS_ALL_PLUS"], env=env, timeout=120)
    assert again.returncode == 0 and again.stdout.count("skip (done)") == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["baseline"] == {"key": "variant", "value": "PAS_ALL_PLUS"}
    assert summary["command"].endswith("--baseline=variant=PAS_ALL_PLUS")

    only = run_python(["-m", "kerasg2c.tools.sweep", f"--out={out}", "--aggregate_only"], env=env)
    assert only.returncode == 0 and "skip" not in only.stdout, only.stderr[-2000:]

    other = run_python([*args[:-3], "--seeds=0", *args[-2:]], env=env)
    assert other.returncode == 2
    assert other.stderr.startswith(f"error: --out: {out} holds another sweep")
    bad = run_python([*args[:-2], "--vary=variant", args[-1]], env=env)
    assert (
        bad.returncode == 2 and bad.stderr == "error: --vary: expected key=v1,v2, got 'variant'\n"
    )
