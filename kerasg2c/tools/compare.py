"""Compares two classifier / G2C runs: metrics side by side and a paired t-test over the
per-patient accuracies of the shared patients (G2C papers, §Experiments;
docs/METHODS.md).

python -m kerasg2c.tools.compare RUN_A RUN_B [--split=test] [--out=FILE.json] [--figure=FILE.png]

RUN_A and RUN_B are workdirs holding report.json, or report.json paths. Differences are B - A.
--figure draws the paper's Figure 3: the patches A gets wrong and B gets right, each with the
stains B's generators make of it (RUN_B must be a workdir holding model.keras). A run that
cannot be compared (no report, no per-patient accuracy, fewer than two shared patients) or a
figure that cannot be written is named on stderr, and the tool exits 2.

Examples:

    kerasg2c compare runs/g2c_pas_only runs/g2c --out=runs/g2c/compare.json
    kerasg2c compare runs/g2c_pas_only runs/g2c --split=val --figure=rescued.png
"""

import json
import os
import sys

from absl import app, flags

from kerasg2c.evaluation import statistics
from kerasg2c.json_files import load_report

_SPLIT = flags.DEFINE_enum("split", "test", ["train", "val", "test"], "Split to compare on.")
_OUT = flags.DEFINE_string("out", None, "Optional path of a JSON file for the comparison.")
_FIGURE = flags.DEFINE_string(
    "figure", None, "Optional PNG: patches A gets wrong and B right, with B's generated stains."
)
_FIGURE_ROWS = flags.DEFINE_integer("figure_rows", 8, "At most this many patches in --figure.")


def run_name(path: str, report: dict) -> str:
    """'<variant or trainer> (<run folder>)'."""
    kind = report.get("variant") or report.get("trainer") or "run"
    folder = os.path.basename(os.path.dirname(os.path.abspath(path))) or path
    return f"{kind} ({folder})"


def _fmt(x, signed=False) -> str:
    if x is None:
        return "-"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def format_comparison(result: dict, name_a: str, name_b: str) -> str:
    """The readable table (metric | A | B | B-A) and the t-test line."""
    width = max(len("metric"), *(len(r["metric"]) for r in result["metrics"]))
    lines = [
        f"A: {name_a}",
        f"B: {name_b}",
        f"split: {result['split']}; patients shared: {len(result['patients'])}"
        f" (only in A: {len(result['only_in_a'])}, only in B: {len(result['only_in_b'])})",
        "",
        f"{'metric':<{width}} | {'A':>8} | {'B':>8} | {'B-A':>8}",
        f"{'-' * width}-+-{'-' * 8}-+-{'-' * 8}-+-{'-' * 8}",
    ]
    for r in result["metrics"]:
        lines.append(
            f"{r['metric']:<{width}} | {_fmt(r['a']):>8} | {_fmt(r['b']):>8} | "
            f"{_fmt(r['difference'], signed=True):>8}"
        )
    t = result["t_test"]
    tp = (
        f"t={t['t']:.4f}, p={t['p']:.4g}"
        if t["t"] is not None
        else "t=undefined (constant differences), p=undefined"
    )
    ci = f"[{_fmt(t['ci_low'], True)}, {_fmt(t['ci_high'], True)}]"
    lines += [
        "",
        f"paired t-test over {t['n']} patients: {tp}; mean difference (B-A) "
        f"{t['mean_difference']:+.4f}, {round(100 * t['confidence'])} % CI {ci}",
    ]
    return "\n".join(lines)


def in_words(result: dict, name_a: str, name_b: str) -> str:
    """One plain sentence: B against A in balanced accuracy and per-patient accuracy, with
    the interval and p of the paired t-test, and whether the difference is distinguishable
    from none at 5 %."""
    row = next(r for r in result["metrics"] if r["metric"] == "balanced_accuracy")
    t = result["t_test"]
    if t["p"] is None:
        verdict = "the per-patient differences are all equal, so the test is undefined"
    elif t["p"] < 0.05:
        better = "better" if t["mean_difference"] > 0 else "worse"
        verdict = f"{name_b} is {better} at the 5 % level"
    else:
        verdict = "the difference is within what patient-to-patient noise gives (p ≥ 0.05)"
    p = "undefined" if t["p"] is None else f"{t['p']:.3g}"
    return (
        f"On the {result['split']} split {name_b} scores a balanced accuracy of "
        f"{_fmt(row['b'])} against {_fmt(row['a'])} for {name_a}; per patient it is "
        f"{t['mean_difference']:+.3f} on average (95 % CI [{_fmt(t['ci_low'], True)}, "
        f"{_fmt(t['ci_high'], True)}], paired t-test over {t['n']} patients, p = {p}): "
        f"{verdict}."
    )


def main(argv):
    if len(argv) != 3:
        raise app.UsageError(
            "usage: python -m kerasg2c.tools.compare RUN_A RUN_B [--split] [--out]"
        )
    try:
        (path_a, report_a), (path_b, report_b) = load_report(argv[1]), load_report(argv[2])
        result = statistics.compare_reports(
            report_a, report_b, split=_SPLIT.value, names=(path_a, path_b)
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name_a, name_b = run_name(path_a, report_a), run_name(path_b, report_b)
    result["a"]["name"], result["b"]["name"] = name_a, name_b
    result["a"]["path"], result["b"]["path"] = path_a, path_b
    print(format_comparison(result, name_a, name_b))
    print("\n" + in_words(result, name_a, name_b))
    if _OUT.value:
        os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
        with open(_OUT.value, "w") as f:
            json.dump(result, f, indent=2, allow_nan=False)
        print(f"wrote {_OUT.value}")
    if _FIGURE.value:
        try:
            n = write_figure(path_a, path_b, report_b, _SPLIT.value, _FIGURE.value)
        except (OSError, ValueError) as e:
            print(f"error: --figure: {e}", file=sys.stderr)
            return 2
        print(
            f"{n} patches A gets wrong and B gets right" + (f"; wrote {_FIGURE.value}" if n else "")
        )
    return 0


def write_figure(path_a, path_b, report_b, split, out) -> int:
    """Figure 3 from the runs' predictions_<split>.csv and B's model.keras."""
    import keras  # TensorFlow only for the figure

    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)
    from kerasg2c.evaluation import prediction_table, rescued
    from kerasg2c.jobs import shared_config

    if split == "train":
        raise ValueError("runs write predictions for val and test only")
    folder_a, folder_b = os.path.dirname(path_a), os.path.dirname(path_b)
    rows = [
        prediction_table.read_predictions(os.path.join(f, f"predictions_{split}.csv"))
        for f in (folder_a, folder_b)
    ]
    model_path = os.path.join(folder_b, "model.keras")
    if not os.path.isfile(model_path):
        raise ValueError(f"no {model_path} (RUN_B must be a G2C or classifier workdir)")
    model = keras.saving.load_model(model_path, compile=False)
    with open(os.path.join(folder_b, "config.json")) as f:
        image_size = shared_config.image_shape(json.load(f))  # (height, width)
    return rescued.save_rescued_figure(
        model,
        *rows,
        out,
        image_size=image_size,
        stains=report_b.get("stains", ()),
        limit=_FIGURE_ROWS.value,
    )


if __name__ == "__main__":
    app.run(main)
