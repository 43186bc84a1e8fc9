"""Classification metrics the G2C papers report (Tables 2–4): per-class accuracy,
category-averaged (balanced) accuracy, F1, confusion matrix, per-patient accuracy; and
those HistoGAN's comparison reports (§4.3): ROC AUC, sensitivity and specificity."""

import collections

import numpy as np
from sklearn import metrics


def classification_metrics(
    labels, predictions, classes, patients=None, probabilities=None, positive_class=None
) -> dict:
    """Returns a JSON-ready dict of metrics.

    Sensitivity and specificity (always present; None where undefined):
      two classes: the positive class is `positive_class` (by name; None = the second
        class), named in the result's "positive_class": sensitivity = its recall
        = TP / (TP + FN) and specificity = the other class's recall = TN / (TN + FP); None
        when the labels have no example of that class.
      more classes: macro averages, one-vs-rest, over the classes present in the labels
        (as balanced accuracy and macro F1): sensitivity = mean per-class recall (equal to
        balanced accuracy), specificity = mean per-class TN / (TN + FP), the negatives of
        class c being the examples of the other classes.
    ROC AUC ("auc", only with `probabilities`; `sklearn.metrics.roc_auc_score`):
      two classes: AUC of the positive class's probability against its labels.
      more classes: macro one-vs-rest, the mean of each class's AUC (its probability
        against label == c) over the classes it is defined for: present in the labels
        and not the only one present. Absent classes are left out, so with every class
        present it equals roc_auc_score(multi_class="ovr", average="macro").
      None when no class has both positive and negative examples (one class present).

    Args:
      labels: true class indices, shape [N].
      predictions: predicted class indices, shape [N].
      classes: class names, index order.
      patients: optional patient id per example, for per-patient accuracy.
      probabilities: optional class probabilities [N, len(classes)] (e.g. the softmax of
        the logits), for the AUC.
      positive_class: with two classes, the name of the positive one (a dataset's
        declared "positive_class"); never taken from the order of the class folders
        unless nothing is declared.

    Raises:
      ValueError: `positive_class` is not one of two `classes`.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    positive = _positive_index(classes, positive_class)
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
        **sensitivity_specificity(cm, positive),
    }
    if len(classes) == 2:
        result["positive_class"] = classes[positive]
    if probabilities is not None:
        result["auc"] = roc_auc(labels, probabilities, len(classes), positive)
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


def _positive_index(classes, positive_class) -> int:
    if positive_class is None:
        return 1
    if len(classes) != 2 or positive_class not in classes:
        raise ValueError(f"positive class {positive_class!r}: not one of two classes {classes}")
    return list(classes).index(positive_class)


def sensitivity_specificity(cm, positive: int = 1) -> dict:
    """{"sensitivity", "specificity"} of a confusion matrix (rows: true class), as
    `classification_metrics` defines them (`positive`: the positive class's index when
    there are two); None where undefined."""
    cm = np.asarray(cm, dtype=np.int64)
    n, support = cm.sum(), cm.sum(axis=1)
    tp = cm.diagonal()
    fp = cm.sum(axis=0) - tp
    negatives = n - support  # per class: examples of the other classes
    recall = [tp[c] / support[c] if support[c] else None for c in range(len(cm))]
    specificity = [
        (negatives[c] - fp[c]) / negatives[c] if negatives[c] else None for c in range(len(cm))
    ]
    if len(cm) == 2:
        sens, spec = recall[positive], recall[1 - positive]
    else:
        present = [c for c in range(len(cm)) if support[c]]
        sens = _mean([recall[c] for c in present])
        spec = _mean([specificity[c] for c in present])
    return {"sensitivity": _float(sens), "specificity": _float(spec)}


def roc_auc(labels, probabilities, num_classes: int, positive: int = 1):
    """ROC AUC as `classification_metrics` defines it (`positive`: the positive class's
    index when there are two), or None where undefined."""
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(labels), num_classes):
        raise ValueError(
            f"probabilities: expected shape {(len(labels), num_classes)}, got {probabilities.shape}"
        )

    def auc(c):
        positive = labels == c
        if positive.all() or not positive.any():
            return None
        return float(metrics.roc_auc_score(positive, probabilities[:, c]))

    if num_classes == 2:
        return auc(positive)
    return _float(_mean([auc(c) for c in range(num_classes)]))


def _mean(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _float(x):
    return None if x is None else float(x)
