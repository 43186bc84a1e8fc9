"""Classification metrics against hand computations, and the report figures."""

import json
import types

import numpy as np
import pytest
from sklearn import metrics

from kerasg2c.errors import UserError
from kerasg2c.evaluation import classification, plots
from kerasg2c.jobs import splits


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


def test_binary_auc_sensitivity_specificity_match_hand_computation():
    labels = [0, 0, 0, 0, 1, 1, 1]
    p1 = np.array([0.1, 0.4, 0.6, 0.35, 0.8, 0.3, 0.7])  # probability of the second class
    preds = (p1 > 0.5).astype(int)  # TN 3, FP 1, TP 2, FN 1
    m = classification.classification_metrics(
        labels, preds, ("normal", "tumor"), probabilities=np.stack([1 - p1, p1], 1)
    )
    assert m["sensitivity"] == pytest.approx(2 / 3)  # TP / (TP + FN)
    assert m["specificity"] == pytest.approx(3 / 4)  # TN / (TN + FP)
    # Pairs (positive, negative) ranked right: 0.8 and 0.7 beat all 4, 0.3 beats 0.1.
    assert m["auc"] == pytest.approx(9 / 12)
    assert m["positive_class"] == "tumor"
    json.dumps(m, allow_nan=False)
    # The same patches with the folders the other way round ("cancer" sorts first): the
    # declared positive class, not the order, decides sensitivity and AUC.
    flipped = classification.classification_metrics(
        [1 - y for y in labels],
        1 - preds,
        ("cancer", "normal"),
        probabilities=np.stack([p1, 1 - p1], 1),
        positive_class="cancer",
    )
    for key in ("sensitivity", "specificity", "auc"):
        assert flipped[key] == pytest.approx(m[key]), key
    assert flipped["positive_class"] == "cancer"
    with pytest.raises(ValueError, match="'tumour': not one of two classes"):
        classification.classification_metrics(labels, preds, ("a", "b"), positive_class="tumour")


def test_declared_positive_class_is_read_from_dataset_json(tmp_path):
    context = types.SimpleNamespace(data_root=str(tmp_path))
    assert splits.declared_positive_class(context, ("cancer", "normal")) is None
    (tmp_path / "dataset.json").write_text(json.dumps({"positive_class": "cancer"}))
    assert splits.declared_positive_class(context, ("cancer", "normal")) == "cancer"
    assert splits.declared_positive_class(context, ("a", "b", "cancer")) is None
    with pytest.raises(UserError, match="dataset.json: \"positive_class\" 'cancer' is not"):
        splits.declared_positive_class(context, ("benign", "malignant"))


def test_three_class_macro_auc_sensitivity_specificity_match_hand_computation():
    labels = [0, 0, 0, 0, 1, 1, 2, 2]
    probabilities = np.array(
        [
            [0.7, 0.2, 0.1],
            [0.6, 0.3, 0.1],
            [0.5, 0.1, 0.4],
            [0.3, 0.6, 0.1],
            [0.2, 0.7, 0.1],
            [0.4, 0.35, 0.25],
            [0.1, 0.2, 0.7],
            [0.2, 0.1, 0.7],
        ]
    )
    preds = probabilities.argmax(1)  # [0, 0, 0, 1, 1, 0, 2, 2], as in the test above
    m = classification.classification_metrics(
        labels, preds, ("noa", "ss", "gs"), probabilities=probabilities
    )
    assert m["confusion_matrix"] == [[3, 1, 0], [1, 1, 0], [0, 0, 2]]
    # Per-class recall 3/4, 1/2, 2/2; per-class TN / (TN + FP): 3/4, 5/6, 6/6.
    assert m["sensitivity"] == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    assert m["sensitivity"] == pytest.approx(m["balanced_accuracy"])
    assert m["specificity"] == pytest.approx((3 / 4 + 5 / 6 + 1) / 3)
    # One-vs-rest AUCs: class 0 15/16 (0.3 loses to 0.4), class 1 11/12 (0.35 loses to
    # 0.6), class 2 12/12.
    assert m["auc"] == pytest.approx((15 / 16 + 11 / 12 + 1) / 3)
    assert m["auc"] == pytest.approx(
        metrics.roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")
    )


def test_absent_classes_are_left_out_of_auc_and_specificity():
    probabilities = np.array([[0.6, 0.3, 0.1], [0.5, 0.2, 0.3], [0.2, 0.7, 0.1], [0.55, 0.35, 0.1]])
    m = classification.classification_metrics(
        [0, 0, 1, 1], probabilities.argmax(1), ("a", "b", "c"), probabilities=probabilities
    )
    assert m["auc"] == pytest.approx((3 / 4 + 1) / 2)  # "c" has no example: left out
    assert m["sensitivity"] == pytest.approx((1 + 1 / 2) / 2)
    assert m["specificity"] == pytest.approx((1 / 2 + 1) / 2)

    # One class present: no AUC; binary specificity needs a class-0 example.
    binary = classification.classification_metrics(
        [1, 1], [1, 0], ("normal", "tumor"), probabilities=[[0.2, 0.8], [0.9, 0.1]]
    )
    assert binary["auc"] is None and binary["specificity"] is None
    assert binary["sensitivity"] == 0.5
    three = classification.classification_metrics(
        [2, 2], [2, 2], ("a", "b", "c"), probabilities=np.eye(3)[[2, 2]]
    )
    assert three["auc"] is None and three["specificity"] is None  # "c" has no negatives
    assert three["sensitivity"] == 1.0
    # Without probabilities there is no "auc"; a wrong shape is refused.
    assert "auc" not in classification.classification_metrics([0, 1], [0, 1], ("a", "b"))
    with pytest.raises(ValueError, match="probabilities: expected shape"):
        classification.classification_metrics([0, 1], [0, 1], ("a", "b"), probabilities=[0.1, 0.9])


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
