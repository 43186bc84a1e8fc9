"""Run comparison: paired t-test (arXiv G2C §4.2), `kerasg2c compare`. No TensorFlow."""

import json
import math

import numpy as np
import pytest
from conftest import run_python
from scipy import stats

from kerasg2c.evaluation import statistics

# d = b - a = [0.1, 0.0, 0.2, 0.1, 0.1]: mean 0.1, sd sqrt(0.02 / 4), t = 0.1 / (sd / sqrt 5).
A = [0.5, 0.6, 0.7, 0.8, 0.9]
B = [0.6, 0.6, 0.9, 0.9, 1.0]


def test_paired_t_test_matches_scipy_and_hand_computation():
    r = statistics.paired_t_test(A, B)
    ref = stats.ttest_rel(B, A)
    assert r["n"] == 5
    assert r["t"] == pytest.approx(ref.statistic)
    assert r["p"] == pytest.approx(ref.pvalue)
    # By hand: deviations 0, -0.1, 0.1, 0, 0 -> sd = sqrt(0.02 / 4); t = sqrt(10).
    sd = math.sqrt(0.02 / 4)
    assert r["mean_difference"] == pytest.approx(0.1)
    assert r["sd_difference"] == pytest.approx(sd)
    assert r["t"] == pytest.approx(0.1 / (sd / math.sqrt(5))) == pytest.approx(math.sqrt(10))
    half = 2.7764451051977987 * sd / math.sqrt(5)  # t_{0.975, 4}
    assert r["ci_low"] == pytest.approx(0.1 - half)
    assert r["ci_high"] == pytest.approx(0.1 + half)
    ci = ref.confidence_interval(0.95)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((ci.low, ci.high))
    # Swapping the runs flips the sign of t and of the interval, not p.
    s = statistics.paired_t_test(B, A)
    assert s["t"] == pytest.approx(-r["t"]) and s["p"] == pytest.approx(r["p"])
    assert s["ci_low"] == pytest.approx(-r["ci_high"])


def test_paired_t_test_edge_cases():
    same = statistics.paired_t_test([0.5, 0.7], [0.6, 0.8])  # constant differences
    assert same["t"] is None and same["p"] is None and same["mean_difference"] == pytest.approx(0.1)
    json.dumps(same, allow_nan=False)
    with pytest.raises(ValueError, match="at least 2"):
        statistics.paired_t_test([0.5], [0.6])
    with pytest.raises(ValueError, match="equal lengths"):
        statistics.paired_t_test([0.5, 0.6], [0.6, 0.7, 0.8])


def _report(per_patient, trainer="g2c", variant=None, gap=0.1):
    values = list(per_patient.values())
    split = {
        "n": 10 * len(values),
        "accuracy": float(np.mean(values)),
        "balanced_accuracy": float(np.mean(values)) - 0.05,
        "macro_f1": float(np.mean(values)) - 0.1,
        "per_class": {
            "noa": {"accuracy": values[0], "f1": 0.5, "support": 5},
            "s": {"accuracy": values[-1], "f1": 0.5, "support": 5},
        },
        "confusion_matrix": [[1, 0], [0, 1]],
        "per_patient_accuracy": per_patient,
        "mean_patient_accuracy": float(np.mean(values)),
        "loss": 0.5,
    }
    report = {"trainer": trainer, "classes": ["noa", "s"], "train_test_gap": gap}
    report["metrics"] = {"train": split, "test": split}
    if variant:
        report["variant"] = variant
    return report


# Patients a..e in run A; run B lacks a and adds f. Shared b..e, differences 0, .2, .1, .1.
REPORT_A = _report({"a": 0.5, "b": 0.6, "c": 0.7, "d": 0.8, "e": 0.9}, variant="PAS_ONLY")
REPORT_B = _report({"b": 0.6, "c": 0.9, "d": 0.9, "e": 1.0, "f": 0.3}, variant="PAS_ALL", gap=0.05)


def test_compare_reports_shared_patients_and_differences():
    r = statistics.compare_reports(REPORT_A, REPORT_B, split="test")
    assert r["patients"] == ["b", "c", "d", "e"]
    assert r["only_in_a"] == ["a"] and r["only_in_b"] == ["f"]
    diffs = {p: v["difference"] for p, v in r["per_patient"].items()}
    assert diffs == pytest.approx({"b": 0.0, "c": 0.2, "d": 0.1, "e": 0.1})
    t = r["t_test"]
    assert t["n"] == 4 and t["mean_difference"] == pytest.approx(0.1)
    assert t["t"] == pytest.approx(math.sqrt(6))  # 0.1 / (sqrt(0.02 / 3) / 2)
    assert t["p"] == pytest.approx(
        stats.ttest_rel([0.6, 0.9, 0.9, 1.0], [0.6, 0.7, 0.8, 0.9]).pvalue
    )
    rows = {row["metric"]: row for row in r["metrics"]}
    assert rows["accuracy"]["a"] == pytest.approx(0.7)
    assert rows["accuracy"]["difference"] == pytest.approx(0.04)
    assert rows["shared_patient_accuracy"]["difference"] == pytest.approx(0.1)
    assert rows["accuracy[noa]"]["b"] == pytest.approx(0.6)
    assert rows["train_test_gap"]["difference"] == pytest.approx(-0.05)
    assert {"balanced_accuracy", "macro_f1", "accuracy[s]"} <= set(rows)
    json.dumps(r, allow_nan=False)


def test_compare_reports_errors_name_the_reports():
    no_patients = json.loads(json.dumps(REPORT_B))
    del no_patients["metrics"]["test"]["per_patient_accuracy"]
    with pytest.raises(ValueError, match="run_b.json.*'test'.*per_patient_accuracy"):
        statistics.compare_reports(REPORT_A, no_patients, names=("run_a.json", "run_b.json"))
    one_shared = _report({"a": 0.5, "z": 0.4})
    with pytest.raises(ValueError, match="run_a.json and run_b.json.*shares 1 patient"):
        statistics.compare_reports(REPORT_A, one_shared, names=("run_a.json", "run_b.json"))
    with pytest.raises(ValueError, match="run_a.json.*'val'"):
        statistics.compare_reports(REPORT_A, REPORT_B, split="val", names=("run_a.json", "b"))


def _write(path, report):
    path.mkdir(parents=True)
    (path / "report.json").write_text(json.dumps(report))
    return path


def test_cli_prints_table_and_t_test_and_writes_json(tmp_path):
    run_a = _write(tmp_path / "run_only", REPORT_A)
    run_b = _write(tmp_path / "run_all", REPORT_B)
    out = tmp_path / "cmp" / "comparison.json"
    proc = run_python(
        ["-m", "kerasg2c.tools.compare", str(run_a), str(run_b / "report.json"), f"--out={out}"],
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "PAS_ONLY (run_only)" in proc.stdout and "PAS_ALL (run_all)" in proc.stdout
    assert "paired t-test over 4 patients: t=2.4495, p=" in proc.stdout
    assert "mean difference (B-A) +0.1000, 95 % CI [" in proc.stdout
    assert "balanced_accuracy" in proc.stdout and "train_test_gap" in proc.stdout
    sentence = proc.stdout.strip().splitlines()[-2]  # before "wrote ..."
    assert sentence.startswith("On the test split PAS_ALL (run_all) scores a balanced accuracy")
    assert "+0.100 on average" in sentence
    assert "paired t-test over 4 patients, p = 0.0917" in sentence
    assert sentence.endswith("within what patient-to-patient noise gives (p ≥ 0.05).")
    result = json.loads(out.read_text())
    assert result["patients"] == ["b", "c", "d", "e"]
    assert result["t_test"]["t"] == pytest.approx(math.sqrt(6))
    assert result["a"]["name"] == "PAS_ONLY (run_only)"


def test_cli_errors(tmp_path):
    missing = tmp_path / "nowhere"
    run_a = _write(tmp_path / "run_a", REPORT_A)
    proc = run_python(["-m", "kerasg2c.tools.compare", str(run_a), str(missing)], timeout=60)
    assert proc.returncode == 2
    assert str(missing) in proc.stderr
    unfinished = _write(tmp_path / "run_c", {"trainer": "classifier"})
    proc = run_python(["-m", "kerasg2c.tools.compare", str(run_a), str(unfinished)], timeout=60)
    assert proc.returncode == 2
    assert str(unfinished / "report.json") in proc.stderr and "metrics" in proc.stderr
