"""Classification metrics the G2C papers report (Tables 2–4): per-class accuracy,
category-averaged (balanced) accuracy, F1, confusion matrix, per-patient accuracy."""

import collections

import numpy as np
from sklearn import metrics


def classification_metrics(labels, predictions, classes, patients=None) -> dict:
    """Returns a JSON-ready dict of metrics.

    Args:
      labels: true class indices, shape [N].
      predictions: predicted class indices, shape [N].
      classes: class names, index order.
      patients: optional patient id per example, for per-patient accuracy.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    index = np.arange(len(classes))
    cm = metrics.confusion_matrix(labels, predictions, labels=index)
    support = cm.sum(axis=1)
    recall = np.divide(cm.diagonal(), support, out=np.zeros(len(classes)), where=support > 0)
    f1 = metrics.f1_score(labels, predictions, labels=index, average=None, zero_division=0)
    result = {
        "n": int(len(labels)),
        "accuracy": float(np.mean(labels == predictions)) if len(labels) else 0.0,
        "balanced_accuracy": float(recall[support > 0].mean()) if support.any() else 0.0,
        "macro_f1": float(f1[support > 0].mean()) if support.any() else 0.0,
        "per_class": {
            c: {"accuracy": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "confusion_matrix": cm.tolist(),
    }
    if patients is not None:
        per_patient = per_patient_accuracy(labels, predictions, patients)
        result["per_patient_accuracy"] = per_patient
        result["mean_patient_accuracy"] = float(np.mean(list(per_patient.values())))
    return result


def per_patient_accuracy(labels, predictions, patients) -> dict:
    """Accuracy of each patient's patches: {patient id: fraction correct}."""
    correct = collections.defaultdict(list)
    for y, p, patient in zip(labels, predictions, patients):
        correct[patient].append(int(y) == int(p))
    return {k: float(np.mean(v)) for k, v in sorted(correct.items())}
