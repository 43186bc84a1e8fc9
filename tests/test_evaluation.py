"""Classification metrics against hand computations, and the report figures."""

import numpy as np
import pytest

from kerasg2c.evaluation import classification, plots


def test_metrics_match_hand_computation():
    labels = [0, 0, 0, 0, 1, 1, 2, 2]
    preds = [0, 0, 0, 1, 1, 0, 2, 2]
    patients = ["a", "a", "b", "b", "b", "c", "c", "c"]
    m = classification.classification_metrics(labels, preds, ("noa", "ss", "gs"), patients)
    assert m["accuracy"] == pytest.approx(6 / 8)
    # Per-class accuracy (recall): 3/4, 1/2, 2/2 → balanced = mean.
    assert m["balanced_accuracy"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert m["per_class"]["ss"]["f1"] == pytest.approx(2 * 0.5 * 0.5 / (0.5 + 0.5))
    assert m["confusion_matrix"] == [[3, 1, 0], [1, 1, 0], [0, 0, 2]]
    assert m["per_patient_accuracy"] == {
        "a": 1.0,
        "b": pytest.approx(2 / 3),
        "c": pytest.approx(2 / 3),
    }


def test_absent_class_does_not_drag_balanced_accuracy():
    m = classification.classification_metrics([0, 1], [0, 1], ("a", "b", "c"))
    assert m["balanced_accuracy"] == 1.0
    assert m["per_class"]["c"]["support"] == 0


def test_figures_are_written(tmp_path):
    plots.save_confusion_matrix([[3, 1], [0, 2]], ("a", "b"), tmp_path / "cm.png")
    history = [
        {"epoch": 1, "train_loss": 1.0, "val_loss": 1.2},
        {"epoch": 2, "train_loss": 0.5, "val_loss": 0.9},
    ]
    plots.save_learning_curves(history, tmp_path / "lc.png")
    plots.save_image_grid(
        np.random.default_rng(0).random((5, 8, 8, 3)),
        tmp_path / "g.png",
        titles=list("abcde"),
        columns=3,
    )
    for name in ("cm.png", "lc.png", "g.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
