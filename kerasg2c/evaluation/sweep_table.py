"""A sweep's summary (`python -m kerasg2c.tools.sweep`): per headline metric, one row per variant
(a combination of the --vary values) with n seeds, mean ± sd (n − 1) and the per-seed
values; against its baseline row, the mean per-seed difference and a paired t-test of
per-patient accuracy pooled over seeds (pairs: (seed, patient) for the patients both runs of
a seed share).

A row's baseline row has the baseline's value for the baseline key and the row's own values
for the other keys (with variant and data size varied: PAS_ALL_PLUS at 10 patients against
PAS_ONLY at 10).
"""

import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kerasg2c.evaluation import statistics  # noqa: E402


def _label(variant) -> str:
    return " ".join(f"{k}={v}" for k, v in variant) or "all runs"


def _finite(x):
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def _baseline_of(variant, baseline):
    """The variant `variant` is compared to, or None (no baseline, or it is one)."""
    if baseline is None or dict(variant)[baseline[0]] == baseline[1]:
        return None
    return tuple((k, baseline[1] if k == baseline[0] else v) for k, v in variant)


def pooled_t_test(row, base, seeds, reports, split) -> dict:
    """Paired t-test of per-patient accuracy, `row` against `base`, over (seed, patient)
    pairs of the seeds both finished. Raises ValueError when it cannot be computed."""
    a, b, used = [], [], []
    for seed in seeds:
        if (row, seed) in reports and (base, seed) in reports:
            names = (f"{_label(base)} seed={seed}", f"{_label(row)} seed={seed}")
            result = statistics.compare_reports(
                reports[base, seed], reports[row, seed], split=split, names=names
            )
            a += [p["a"] for p in result["per_patient"].values()]
            b += [p["b"] for p in result["per_patient"].values()]
            used.append(seed)
    return {"seeds": used, **statistics.paired_t_test(a, b)}


def summarize(variants, seeds, reports: dict, split="test", baseline=None) -> dict:
    """The summary (JSON-ready) of the finished runs.

    Args:
      variants: the rows, each a tuple of (key, value) per --vary key, in table order.
      seeds: the sweep's seeds.
      reports: {(variant, seed): report.json dict} of the finished runs.
      split: the split whose metrics are summarised.
      baseline: (key, value) choosing the baseline rows, or None.
    """
    rows = []
    for variant in variants:
        base = _baseline_of(variant, baseline)
        row = {
            "variant": dict(variant),
            "label": _label(variant),
            "seeds": [s for s in seeds if (variant, s) in reports],
            "baseline": None if base is None else _label(base),
            "t_test": None,
        }
        if base is not None:
            try:
                row["t_test"] = pooled_t_test(variant, base, seeds, reports, split)
            except ValueError as e:
                row["t_test_error"] = " ".join(str(e).split())
        rows.append(row)

    metrics = {}
    for metric in statistics.HEADLINE_METRICS:
        value = {
            key: _finite(r["metrics"].get(split, {}).get(metric)) for key, r in reports.items()
        }
        if all(v is None for v in value.values()):
            continue
        table = []
        for variant in variants:
            per_seed = [value.get((variant, s)) for s in seeds]
            got = [v for v in per_seed if v is not None]
            base = _baseline_of(variant, baseline)
            diffs = [
                x - y
                for x, y in zip(per_seed, (value.get((base, s)) for s in seeds))
                if base is not None and x is not None and y is not None
            ]
            table.append(
                {
                    "n": len(got),
                    "mean": float(np.mean(got)) if got else None,
                    "sd": float(np.std(got, ddof=1)) if len(got) > 1 else None,
                    "values": per_seed,
                    "mean_difference": float(np.mean(diffs)) if diffs else None,
                }
            )
        metrics[metric] = table

    return {
        "split": split,
        "vary": [k for k, _ in variants[0]],
        "seeds": list(seeds),
        "baseline": None if baseline is None else {"key": baseline[0], "value": baseline[1]},
        "not_finished": [
            f"{_label(v)} seed={s}" for s in seeds for v in variants if (v, s) not in reports
        ],
        "rows": rows,
        "metrics": metrics,
    }


def _num(x, signed=False) -> str:
    return "-" if x is None else f"{x:+.4f}" if signed else f"{x:.4f}"


def _t_cell(row) -> str:
    t = row["t_test"]
    if t is None:
        return "-"
    if t["t"] is None:
        return f"undefined (n={t['n']})"
    return f"t={t['t']:.3f}, p={t['p']:.3g} (n={t['n']})"


def format_markdown(summary: dict, command: str) -> str:
    """summary.md: the command, then one table per metric."""
    base = summary["baseline"]
    lines = [
        "# Sweep summary",
        "",
        f"    {command}",
        "",
        f"Split `{summary['split']}`, seeds {', '.join(map(str, summary['seeds']))}.",
    ]
    if base:
        lines += [
            f"Baseline `{base['key']}={base['value']}`: each row is compared to the row with "
            f"`{base['key']}={base['value']}` and its own other values. Δ: the mean over seeds "
            "of (row − baseline). t: paired t-test of per-patient accuracy (row − baseline), "
            "pairs = (seed, patient) for the patients both runs of a seed share.",
        ]
    if summary["not_finished"]:
        lines.append(f"Not finished: {', '.join(summary['not_finished'])}.")
    if not summary["metrics"]:
        lines += ["", f"No finished run has headline metrics for split `{summary['split']}`."]
    seeds = ", ".join(map(str, summary["seeds"]))
    header = [*summary["vary"], "n", "mean ± sd", f"seeds {seeds}"]
    header += ["Δ", "per-patient t"] if base else []
    for metric, table in summary["metrics"].items():
        lines += ["", f"## {metric}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + " --- |" * len(header))
        for row, m in zip(summary["rows"], table):
            sd = "" if m["sd"] is None else f" ± {m['sd']:.4f}"
            cells = [*row["variant"].values(), str(m["n"]), _num(m["mean"]) + sd]
            cells.append(", ".join(_num(v) for v in m["values"]))
            if base:
                is_base = row["variant"][base["key"]] == base["value"]
                cells += (
                    ["baseline", ""]
                    if is_base
                    else [
                        _num(m["mean_difference"], signed=True),
                        _t_cell(row),
                    ]
                )
            lines.append("| " + " | ".join(cells) + " |")
    errors = [f"{r['label']}: {r['t_test_error']}" for r in summary["rows"] if "t_test_error" in r]
    if errors:
        lines += ["", "t-test not computed:", *(f"- {e}" for e in errors)]
    return "\n".join(lines) + "\n"


def _draw(ax, xs, table, color, width, label=None):
    """Per-seed values jittered around each x, mean ± sd bars; a line through the means
    when `label` names the group."""
    rng = np.random.default_rng(0)
    means = []
    for x, m in zip(xs, table):
        values = [v for v in m["values"] if v is not None]
        ax.scatter(
            x + rng.uniform(-width, width, len(values)), values, color=color, alpha=0.5, s=14
        )
        if m["mean"] is not None:
            ax.errorbar(x, m["mean"], yerr=m["sd"] or 0, fmt="o", color=color, capsize=4)
            means.append((x, m["mean"]))
    if label is not None and means:
        ax.plot(*zip(*means), color=color, label=label)


def save_plot(summary: dict, metric: str, path: str) -> None:
    """<metric>.png: per variant the seeds' values and mean ± sd; with two --vary keys, the
    second on the x-axis (its values in --vary order) and one line per value of the first
    (a learning curve)."""
    rows, table, keys = summary["rows"], summary["metrics"][metric], summary["vary"]
    xs = list(dict.fromkeys(r["variant"][keys[1]] for r in rows)) if len(keys) == 2 else rows
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(xs) + 2), 3.8))
    if len(keys) == 2:
        # Evenly spaced in --vary order, labeled by value: a number may mean something else
        # (0 = all, in many of our keys), so no numeric axis.
        position = {x: float(i) for i, x in enumerate(xs)}
        ax.set_xticks(range(len(xs)), xs)
        width = 0.08
        for i, group in enumerate(dict.fromkeys(r["variant"][keys[0]] for r in rows)):
            picked = [(r, m) for r, m in zip(rows, table) if r["variant"][keys[0]] == group]
            x = [position[r["variant"][keys[1]]] for r, _ in picked]
            _draw(ax, x, [m for _, m in picked], f"C{i}", width, label=group)
        ax.set_xlabel(keys[1])
        # Right of the axes: inside, it hides the seeds' points.
        ax.legend(title=keys[0], fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))
    else:
        _draw(ax, range(len(rows)), table, "C0", 0.08)
        labels = [", ".join(r["variant"].values()) or "all runs" for r in rows]
        ax.set_xticks(range(len(rows)), labels, rotation=20 if len(rows) > 4 else 0)
        ax.set_xlabel(" × ".join(keys))
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} ({summary['split']}), mean ± sd over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def write_summary(summary: dict, out: str, command: str) -> list[str]:
    """Writes summary.md, summary.json and one <metric>.png per metric into `out`."""
    paths = [os.path.join(out, "summary.md"), os.path.join(out, "summary.json")]
    with open(paths[0], "w", encoding="utf-8") as f:
        f.write(format_markdown(summary, command))
    with open(paths[1], "w", encoding="utf-8") as f:
        json.dump({"command": command, **summary}, f, indent=2, allow_nan=False)
    for metric in summary["metrics"]:
        paths.append(os.path.join(out, f"{metric}.png"))
        save_plot(summary, metric, paths[-1])
    return paths
