"""`python -m trainers.classifier` end to end on tiny phantoms: the report, the
config overrides, a SIGKILLed run resumed to the same weights, SIGTERM."""

import csv
import json
import os
import re
import signal

import h5py
import numpy as np
import pytest
from conftest import prefetched, run_python, signal_at, tiny_flags, trainer_args

TINY = [
    *tiny_flags(n_train=48, n_val=12, n_test=12),
    "--config.train.checkpoint_every_steps=2",
    "--config.train.log_every_steps=1",
    "--config.train.deterministic=True",
]


def command(workdir, *extra):
    return trainer_args("classifier", workdir, *TINY, *extra)


def weights(workdir) -> dict:
    out = {}
    with h5py.File(os.path.join(workdir, "model.weights.h5")) as f:
        f.visititems(
            lambda name, obj: (
                out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return out


@prefetched()
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    proc = run_python(command(workdir, "--config.train.epochs=3"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir, proc


@prefetched()
def killed_run(tmp_path_factory):
    """(workdir, (exit code, stderr after the kill)) of the 3-epoch run SIGKILLed mid-epoch
    2, after step 9 (6 steps per epoch; last checkpoint: step 8)."""
    workdir = tmp_path_factory.mktemp("killed")
    cmd = command(workdir, "--config.train.epochs=3")
    return workdir, signal_at(cmd, "epoch 2/3 step 3/6", signal.SIGKILL)


def test_report_and_figures(finished_run):
    workdir, _ = finished_run
    report = json.loads((workdir / "report.json").read_text())
    assert report["classes"] == ["noa", "ss", "gs"]
    assert [r["epoch"] for r in report["history"]] == [1, 2, 3]
    test = report["metrics"]["test"]
    assert test["n"] == 12 and 0.0 <= test["balanced_accuracy"] <= 1.0
    assert set(test["per_class"]) == {"noa", "ss", "gs"}
    assert report["data"]["train"]["n"] == 48
    for name in (
        "confusion_matrix.png",
        "learning_curves.png",
        "model.weights.h5",
        "train.log",
        "samples/val_epoch003.png",
    ):
        assert (workdir / name).exists(), name
    # One row per test patch, probabilities summing to 1.
    with open(workdir / "predictions_test.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and set(rows[0]) >= {"path", "patient", "label", "predicted", "noa"}
    assert abs(sum(float(rows[0][c]) for c in ("noa", "ss", "gs")) - 1) < 1e-4
    assert sum(r["label"] == r["predicted"] for r in rows) / 12 == pytest.approx(test["accuracy"])
    # Overrides reached the config that ran.
    assert json.loads((workdir / "config.json").read_text())["train"]["epochs"] == 3


def test_killed_run_resumes_to_the_same_weights(finished_run, killed_run):
    reference_dir, _ = finished_run
    killed_dir, (returncode, _) = killed_run
    assert returncode == -signal.SIGKILL
    assert not (killed_dir / "model.weights.h5").exists()
    cmd = command(killed_dir, "--config.train.epochs=3")
    resumed = run_python(cmd)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    # The kill lands once the parent has read the step-9 line; under load the run may be a
    # few steps further by then, so it resumes from a checkpoint (every 2 steps) from 8 on.
    step = re.search(r"resumed from \S+ at step (\d+)", resumed.stderr)
    assert step and int(step.group(1)) in (8, 10, 12, 14, 16), resumed.stderr[-2000:]
    expected, got = weights(reference_dir), weights(killed_dir)
    assert expected.keys() == got.keys()
    for name in expected:  # bitwise: op determinism is on, same data order
        np.testing.assert_array_equal(expected[name], got[name], err_msg=name)


def test_sigterm_saves_a_checkpoint_and_exits(tmp_path):
    returncode, rest = signal_at(
        command(tmp_path, "--config.train.epochs=50"), "epoch 1/50 step 3/6", signal.SIGTERM
    )
    assert returncode == 128 + signal.SIGTERM, rest[-3000:]
    assert "SIGTERM received: checkpoint saved at step" in rest
    step = int(rest.split("checkpoint saved at step ")[1].split(";")[0])
    assert step >= 3
    assert os.path.exists(tmp_path / "checkpoints" / f"ckpt-{step}.index")


def test_paper_config_loads():
    proc = run_python(
        [
            "-c",
            "from kerasg2c.jobs import config_files; "
            "c = config_files.load('configs/classifier_paper.py'); "
            "assert c.model.widths == (64, 128, 256, 512) and c.data.image_size == 224",
        ]
    )
    assert proc.returncode == 0, proc.stderr


def test_unknown_config_key_is_refused_by_name(tmp_path):
    proc = run_python(command(tmp_path, "--config.train.epoch=3"))
    assert proc.returncode == 1
    assert "no such key" in proc.stderr and "epoch" in proc.stderr
    assert 'Did you mean "epochs"' in proc.stderr


def test_wrong_type_is_refused_by_name(tmp_path):
    proc = run_python(command(tmp_path, "--config.train.epochs=three"))
    assert proc.returncode == 1
    assert "--config.train.epochs=three" in proc.stderr


def test_bad_strategy_value_names_the_key(tmp_path):
    proc = run_python(command(tmp_path, "--config.train.strategy=tpu"))
    assert proc.returncode != 0
    assert "train.strategy='tpu'" in proc.stderr


def test_missing_data_root_names_the_key(tmp_path):
    proc = run_python(command(tmp_path, f"--config.data.root={tmp_path / 'nowhere'}"))
    assert proc.returncode != 0
    assert "config key data.root" in proc.stderr


def test_phantoms_written_with_other_settings_are_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ".phantoms_complete").write_text(json.dumps({"n_train": 1}))
    proc = run_python(command(tmp_path, "--config.data.phantoms.difficulty=0.5"))
    assert proc.returncode != 0
    assert "other config keys data.phantoms" in proc.stderr
