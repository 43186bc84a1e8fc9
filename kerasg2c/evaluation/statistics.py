"""Comparing two runs the way the G2C papers compare variants (arXiv G2C §4.2 and AAAI G2C
§Quantitative Results, e.g. PAS_ALL vs PAS_ONLY; see docs/METHODS.md): per-patient accuracy
on the shared patients and a paired Student t-test,
t = mean(d) / (sd(d) / sqrt(n)) with d = b − a, plus the headline metrics side by side.

Needs only numpy and scipy (no TensorFlow), so it can run anywhere reports are copied to.
"""

import math

import numpy as np
from scipy import stats

# Relative sd(d) below which differences count as constant (float rounding, e.g. 0.6 - 0.5).
_ZERO_SD = 1e-12

# Headline metrics of `classification_metrics` compared side by side (G2C Tables 2-4;
# AUC, sensitivity and specificity: HistoGAN §4.3). A report without one (written before
# it existed, or without probabilities) shows None here and is left out of a sweep's rows.
HEADLINE_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "mean_patient_accuracy",
    "auc",
    "sensitivity",
    "specificity",
)


def _number(x):
    """A JSON-ready float: NaN and ±inf (undefined statistics) become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def paired_t_test(a, b, confidence: float = 0.95) -> dict:
    """Paired Student t-test of b against a (two-sided), on differences d = b − a.

    t = mean(d) / (sd(d) / sqrt(n)) with the n − 1 standard deviation, i.e.
    `scipy.stats.ttest_rel(b, a)`; the confidence interval of mean(d) is
    mean(d) ± t_{(1 + confidence) / 2, n − 1} · sd(d) / sqrt(n).

    Returns a JSON-ready dict: n, t, p, mean_difference, sd_difference, confidence,
    ci_low, ci_high. t, p and the interval are None when the differences are constant
    (sd(d) = 0 up to rounding) and make them undefined.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired t-test needs equal lengths, got {a.size} and {b.size}")
    if a.size < 2:
        raise ValueError(f"paired t-test needs at least 2 pairs, got {a.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired t-test got non-finite values")
    d = b - a
    n = int(d.size)
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd > _ZERO_SD * max(1.0, float(np.abs(d).max())):
        result = stats.ttest_rel(b, a)
        t, p = float(result.statistic), float(result.pvalue)
        half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    else:  # Constant differences (up to rounding): t is 0/0 or infinite, p meaningless.
        t = p = low = high = None
    return {
        "n": n,
        "t": _number(t),
        "p": _number(p),
        "mean_difference": mean,
        "sd_difference": sd,
        "confidence": float(confidence),
        "ci_low": _number(low),
        "ci_high": _number(high),
    }


def _split_metrics(report: dict, split: str, name: str) -> dict:
    if "metrics" not in report:
        raise ValueError(f"{name}: report has no 'metrics' (did the run finish?)")
    if split not in report["metrics"]:
        raise ValueError(
            f"{name}: report has no metrics for split {split!r} (has {sorted(report['metrics'])})"
        )
    return report["metrics"][split]


def _row(metric: str, a, b) -> dict:
    a, b = _number(a), _number(b)
    diff = b - a if a is not None and b is not None else None
    return {"metric": metric, "a": a, "b": b, "difference": diff}


def compare_reports(report_a: dict, report_b: dict, split: str = "test", names=None) -> dict:
    """Compares two `report.json` dicts (classifier or G2C runs) on `split`.

    Per-patient accuracies on the patients both runs share and a paired t-test on them
    (differences b − a), and a side-by-side of accuracy, balanced accuracy, macro F1,
    mean patient accuracy, per-class accuracy and the train/test gap of balanced accuracy
    (`train_test_gap`, G2C papers' Table 4) and of plain accuracy.

    Args:
      report_a, report_b: parsed report.json dicts.
      split: "train", "val" or "test".
      names: optional (name_a, name_b), e.g. the report paths, used in error messages.

    Raises:
      ValueError: a report lacks the split or its per-patient accuracy, or fewer than two
        patients are shared.
    """
    name_a, name_b = names or ("report A", "report B")
    m_a = _split_metrics(report_a, split, name_a)
    m_b = _split_metrics(report_b, split, name_b)
    for m, name in ((m_a, name_a), (m_b, name_b)):
        if not m.get("per_patient_accuracy"):
            raise ValueError(
                f"{name}: split {split!r} has no per_patient_accuracy "
                "(the data gave no patient ids)"
            )
    pa, pb = m_a["per_patient_accuracy"], m_b["per_patient_accuracy"]
    shared = [p for p in pa if p in pb]
    if len(shared) < 2:
        raise ValueError(
            f"{name_a} and {name_b}: split {split!r} shares {len(shared)} patient(s) "
            f"({len(pa)} vs {len(pb)} patients); the paired t-test needs at least 2"
        )
    acc_a = [float(pa[p]) for p in shared]
    acc_b = [float(pb[p]) for p in shared]

    rows = [_row(k, m_a.get(k), m_b.get(k)) for k in HEADLINE_METRICS]
    rows.append(_row("shared_patient_accuracy", float(np.mean(acc_a)), float(np.mean(acc_b))))
    classes = list(report_a.get("classes") or m_a.get("per_class", {}))
    classes += [c for c in report_b.get("classes") or m_b.get("per_class", {}) if c not in classes]
    for c in classes:
        ca, cb = m_a.get("per_class", {}).get(c, {}), m_b.get("per_class", {}).get(c, {})
        rows.append(_row(f"accuracy[{c}]", ca.get("accuracy"), cb.get("accuracy")))
    for key in ("train_test_gap", "train_test_accuracy_gap"):
        rows.append(_row(key, report_a.get(key), report_b.get(key)))

    return {
        "split": split,
        "a": {
            "name": name_a,
            "trainer": report_a.get("trainer"),
            "variant": report_a.get("variant"),
        },
        "b": {
            "name": name_b,
            "trainer": report_b.get("trainer"),
            "variant": report_b.get("variant"),
        },
        "metrics": rows,
        "patients": shared,
        "only_in_a": [p for p in pa if p not in pb],
        "only_in_b": [p for p in pb if p not in pa],
        "per_patient": {
            p: {"a": x, "b": y, "difference": y - x} for p, x, y in zip(shared, acc_a, acc_b)
        },
        "t_test": paired_t_test(acc_a, acc_b),
    }
