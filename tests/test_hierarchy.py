"""Hierarchical tasks: task splits, routing of the two-step evaluation, the trainer path."""

import csv
import json

import numpy as np
import pytest
from conftest import run_python, tiny_flags, trainer_args

from kerasg2c.data import tasks
from kerasg2c.data.pipeline import LabeledSplit
from kerasg2c.evaluation import hierarchy, prediction_table

TASKS = {
    "s_vs_noa": {"s": ["ss", "gs"], "noa": ["noa"]},
    "ss_vs_gs": {"ss": ["ss"], "gs": ["gs"]},
}
CLASSES = ("noa", "ss", "gs")


def _split(labels):
    n = len(labels)
    return LabeledSplit(
        name="test",
        classes=CLASSES,
        paths=tuple(f"p{i}__{i}.png" for i in range(n)),
        labels=np.array(labels, np.int32),
        patients=tuple(f"p{i}" for i in range(n)),
    )


def test_task_split_relabels_by_group_and_drops_other_classes():
    split = _split([0, 1, 2, 0, 2])
    first = tasks.task_split(split, TASKS["s_vs_noa"])
    assert first.classes == ("s", "noa")
    assert first.labels.tolist() == [1, 0, 0, 1, 0]
    second = tasks.task_split(split, TASKS["ss_vs_gs"])
    assert second.classes == ("ss", "gs")
    assert second.paths == ("p1__1.png", "p2__2.png", "p4__4.png")
    assert second.labels.tolist() == [0, 1, 1]
    assert second.patients == ("p1", "p2", "p4")


def test_refined_group_and_its_errors():
    assert tasks.refined_group(TASKS, CLASSES, "s_vs_noa", "ss_vs_gs") == "s"
    with pytest.raises(ValueError, match="must cover every class"):
        tasks.refined_group(TASKS, CLASSES, "ss_vs_gs", "s_vs_noa")
    with pytest.raises(ValueError, match=r"config key data.task='nope'.*s_vs_noa"):
        tasks.task_groups(TASKS, "nope")
    with pytest.raises(ValueError, match="are no group"):
        bad = {**TASKS, "noa_vs_gs": {"noa": ["noa"], "gs": ["gs"]}}
        tasks.refined_group(bad, CLASSES, "s_vs_noa", "noa_vs_gs")


def _rows(labels, predicted):
    return {
        f"x{i}.png": {"path": f"x{i}.png", "patient": f"p{i % 2}", "label": c, "predicted": p}
        for i, (c, p) in enumerate(zip(labels, predicted))
    }


def test_two_step_routing_matches_a_hand_count():
    labels = ["noa", "noa", "ss", "ss", "gs", "gs"]
    first = ["noa", "s", "s", "noa", "s", "s"]  # x1 wrongly routed to s, x3 missed
    second = ["gs", "ss", "ss", "gs", "gs", "ss"]  # the second model's answer on every patch
    result = hierarchy.hierarchical_metrics(
        _rows(labels, first),
        _rows(labels, second),
        CLASSES,
        TASKS["s_vs_noa"],
        TASKS["ss_vs_gs"],
        "s",
    )
    # Combined: noa, ss, ss, noa, gs, ss (x0's "gs" is never used: the first model said noa).
    assert result["combined"]["confusion_matrix"] == [[1, 1, 0], [1, 1, 0], [0, 1, 1]]
    # The second task is scored on x2, x4, x5 only: abnormal and routed to s.
    assert result["routed"] == 3
    routed = result["second_on_routed"]
    assert routed["n"] == 3 and routed["confusion_matrix"] == [[1, 0], [1, 1]]
    assert routed["balanced_accuracy"] == pytest.approx((1 + 0.5) / 2)


def test_combine_uses_the_group_class_outside_the_refined_group():
    combined = hierarchy.combine(["noa", "s"], ["ss", "gs"], TASKS["s_vs_noa"], "s")
    assert combined == ["noa", "gs"]


TINY = [*tiny_flags(n_test=12), "--config.train.epochs=2"]


def test_trainer_runs_the_hierarchy_and_reports_combined_metrics(tmp_path):
    proc = run_python(
        trainer_args("classifier", tmp_path, *TINY, "--config.hierarchy=s_vs_noa,ss_vs_gs")
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["trainer"] == "hierarchy" and report["refined_group"] == "s"
    second = json.loads((tmp_path / "ss_vs_gs" / "report.json").read_text())
    assert second["task"] == "ss_vs_gs" and second["classes"] == ["ss", "gs"]
    assert second["metrics"]["test"]["n"] < 12  # abnormal patches only
    with open(tmp_path / "ss_vs_gs" / "predictions_test_all.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and {r["predicted"] for r in rows} <= {"ss", "gs"}
    # The report's combined metrics are what the two tables give.
    expected = hierarchy.hierarchical_metrics(
        *(
            prediction_table.read_predictions(tmp_path / t / "predictions_test_all.csv")
            for t in ("s_vs_noa", "ss_vs_gs")
        ),
        CLASSES,
        TASKS["s_vs_noa"],
        TASKS["ss_vs_gs"],
        "s",
    )
    assert report["metrics"]["test"] == expected["combined"]
    assert report["metrics"]["test"]["n"] == 12
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 0


def test_unknown_task_names_the_key(tmp_path):
    proc = run_python(trainer_args("classifier", tmp_path, *TINY, "--config.data.task=s_vs_x"))
    assert proc.returncode != 0 and "config key data.task='s_vs_x'" in proc.stderr


def test_prediction_tables_match_patches_named_relatively_or_absolutely(tmp_path, monkeypatch):
    """A run given a relative data.root and one given an absolute one name the same patch."""
    monkeypatch.chdir(tmp_path)
    header = "path,patient,label,predicted,noa\n"
    (tmp_path / "a.csv").write_text(header + "data/x.png,p,noa,noa,1.0\n")
    (tmp_path / "b.csv").write_text(header + f"{tmp_path}/data/x.png,p,noa,noa,1.0\n")
    a, b = (prediction_table.read_predictions(tmp_path / f) for f in ("a.csv", "b.csv"))
    assert list(a) == list(b) == [str(tmp_path / "data" / "x.png")]


def test_no_role_follows_the_order_of_classes_or_groups():
    """The refined (abnormal) group is found by the classes it holds, so listing the
    classes, the groups or their members in another order changes no result."""
    labels = ["noa", "noa", "ss", "ss", "gs", "gs"]
    first = ["noa", "s", "s", "noa", "s", "s"]
    second = ["gs", "ss", "ss", "gs", "gs", "ss"]
    flipped = {t: {g: m[::-1] for g, m in reversed(groups.items())} for t, groups in TASKS.items()}
    results = []
    for task_set, classes in ((TASKS, CLASSES), (flipped, CLASSES[::-1])):
        refined = tasks.refined_group(task_set, classes, "s_vs_noa", "ss_vs_gs")
        assert refined == "s"
        results.append(
            hierarchy.hierarchical_metrics(
                _rows(labels, first),
                _rows(labels, second),
                classes,
                task_set["s_vs_noa"],
                task_set["ss_vs_gs"],
                refined,
            )
        )
    for key in ("balanced_accuracy", "accuracy"):
        assert results[0]["combined"][key] == pytest.approx(results[1]["combined"][key])
    assert results[0]["routed"] == results[1]["routed"] == 3
    assert results[0]["second_on_routed"]["balanced_accuracy"] == pytest.approx(
        results[1]["second_on_routed"]["balanced_accuracy"]
    )
