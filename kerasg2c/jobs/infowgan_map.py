"""InfoWGAN-GP maps (`python -m trainers.infowgan_map`): where argmax Q clusters cells
better than k-means, over a grid of config values × budgets × seeds.

Every grid cell (a combination of the --vary values, one seed) is one `trainers.infowgan`
run in its own folder under --out (`kerasg2c.jobs.sweep`: a subprocess per run, resumable, a
finished run is never recomputed). A run evaluates Q at the end of every epoch
(`infowgan_monitor`); with `train.steps_per_epoch` = --eval_every and `train.epochs` =
max(--budgets) / --eval_every, the budget axis is read off those evaluation points, so one
run serves every budget. At a budget B (generator updates) each run gives:

- "q": Q at the run's choice among the points up to B (`infogan.select`: the point at B
  for "last", else the best point by that label-free criterion);
- "q_last": Q at B; with `infogan.average_points` > 0, "average" among the choices: Q with
  the critic's weights averaged over the last points up to B; "q_best": the point up to B
  of the highest purity (uses the labels: the best a choice could do);
- "kmeans_pixels", "kmeans_hog": the report's k-means baselines on the same test cells
  (they do not depend on the budget).

It writes map.csv (every run × budget × arm), map.md (per cell: mean ± sd and per-seed
values of each arm, categories in use, and the effect Q − k-means with its 95 % interval
and paired t-test over seeds; then each variant against the first at each budget) and
map.png (`effect_map.save_heat_map`: Q − k-means on pixels in purity and in F, and Q −
k-means on HOG in purity).
"""

import csv
import os

import numpy as np

from kerasg2c.errors import UserError
from kerasg2c.evaluation import effect_map
from kerasg2c.jobs import infowgan_monitor, sweep, sweep_grid

ARMS = ("q", "q_last", "q_best", "kmeans_pixels", "kmeans_hog")
METRICS = ("purity", "f_score", "entropy")


def grid_for(config, vary, seeds, sets, budgets, eval_every) -> sweep_grid.Grid:
    """The sweep grid: `trainers.infowgan` with every --vary combination × seed, evaluated
    every `eval_every` generator updates up to max(`budgets`)."""
    budgets = sorted(budgets)
    if eval_every < 1 or any(b < 1 or b % eval_every for b in budgets):
        raise UserError(
            f"--budgets={','.join(map(str, budgets))}: each must be a positive multiple of "
            f"--eval_every={eval_every}"
        )
    steps = (
        ("train.steps_per_epoch", str(eval_every)),
        ("train.epochs", str(budgets[-1] // eval_every)),
    )
    taken = {k for k, _ in steps}
    for spec in sets:
        if spec.partition("=")[0] in taken:
            raise UserError(f"--set={spec}: the map sets {spec.partition('=')[0]} from --budgets")
    grid = sweep_grid.make_grid("trainers.infowgan", config, vary, seeds, sets)
    return sweep_grid.Grid(grid.trainer, grid.config, grid.vary, grid.seeds, grid.sets + steps)


def _clusters(row: dict) -> dict:
    return {m: row[f"q_{m}"] for m in METRICS}


def readout(report: dict, budget: int) -> dict:
    """{arm: {"purity", "f_score", "entropy"}} and "categories_in_use" of one run at
    `budget` (see the module docstring)."""
    points = [r for r in report["history"] if "q_purity" in r and r["step"] <= budget]
    if not points or points[-1]["step"] != budget:
        raise UserError(f"the run has no evaluation point at {budget} generator updates")
    last = points[-1]
    chosen = infowgan_monitor.choose(points, report["selection"]["criterion"])
    clustering = report["clustering"]
    kept = [
        c for c in infowgan_monitor.CRITERIA if c != "average" or infowgan_monitor.AVERAGE in last
    ]
    choices = {c: _clusters(infowgan_monitor.choose(points, c)) for c in kept}
    return {
        "choices": choices,
        "q": _clusters(chosen),
        "q_last": _clusters(last),
        "q_best": _clusters(max(points, key=lambda r: r["q_purity"])),
        "kmeans_pixels": {m: clustering["kmeans_pixels"][m] for m in METRICS},
        "kmeans_hog": {m: clustering["kmeans_hog"][m] for m in METRICS},
        "categories_in_use": chosen["categories_in_use"],
        "svm": {m: report["svm"].get(m) for m in ("precision", "recall", "f1")},
        "chosen_step": chosen["step"],
    }


def collect(grid: sweep_grid.Grid, out: str, budgets) -> list[dict]:
    """One record per finished run × budget: variant, seed, budget and `readout`'s values."""
    return [
        {"variant": cell.variant, "seed": cell.seed, "budget": budget, **readout(report, budget)}
        for cell, report in sweep.finished_reports(grid, out)
        for budget in sorted(budgets)
    ]


def _label(variant) -> str:
    """'n_critic=1 lambda_info=2' (linked keys apart, each by its last part)."""
    pairs = [pair for k, v in variant for pair in sweep_grid.linked(k, v)]
    return " ".join(f"{k.split('.')[-1]}={v}" for k, v in pairs) or "defaults"


def summarise(records, variants, budgets) -> dict:
    """{(variant label, budget): {"records": [...], "vs_pixels": {metric: cell_summary},
    "vs_hog": {...}}} for the cells with at least one finished run."""
    cells = {}
    for variant in variants:
        for budget in budgets:
            rows = sorted(
                (r for r in records if r["variant"] == variant and r["budget"] == budget),
                key=lambda r: r["seed"],
            )
            if not rows:
                continue
            q = {m: [r["q"][m] for r in rows] for m in METRICS}
            cells[_label(variant), budget] = {
                "records": rows,
                **{f"vs_{base}": {
                    m: effect_map.cell_summary(q[m], [r[f"kmeans_{base}"][m] for r in rows])
                    for m in ("purity", "f_score")
                } for base in ("pixels", "hog")},
            }  # fmt: skip
    return cells


def write_csv(records, path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["variant", "seed", "budget", "arm", *METRICS, "categories_in_use", "chosen_step"]
        )
        for r in records:
            for arm in ARMS:
                writer.writerow([_label(r["variant"]), r["seed"], r["budget"], arm,
                                 *(f"{r[arm][m]:.4f}" for m in METRICS),
                                 r["categories_in_use"], r["chosen_step"]])  # fmt: skip


def _arm_text(rows, arm, metric) -> str:
    values = [r[arm][metric] for r in rows]
    seeds = ", ".join(f"{v:.3f}" for v in values)
    return f"{effect_map.spread(values)} ({seeds})"


def format_markdown(cells, variants, budgets, command) -> str:
    """map.md: the command, then per cell every arm's purity and F with per-seed values,
    then the effects, then each variant against the first."""
    lines = [f"Command: `{command}`", "", "Seeds per cell in parentheses, in seed order.", ""]
    lines += [
        "| variant | budget | seeds | arm | purity | entropy (bits) | F | categories in use |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (label, budget), cell in cells.items():
        rows = cell["records"]
        seeds = ",".join(str(r["seed"]) for r in rows)
        in_use = ",".join(str(r["categories_in_use"]) for r in rows)
        for arm in ARMS:
            lines.append(
                f"| {label} | {budget} | {seeds} | {arm} | {_arm_text(rows, arm, 'purity')} | "
                f"{_arm_text(rows, arm, 'entropy')} | {_arm_text(rows, arm, 'f_score')} | "
                f"{in_use if arm == 'q' else ''} |"
            )
    lines += ["", "Effect of Q (the run's choice) against k-means, paired over seeds "
              "(mean [95 % interval], p):", "",
              "| variant | budget | purity − pixels | F − pixels | purity − HOG | F − HOG |",
              "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for (label, budget), cell in cells.items():
        texts = [effect_map.effect_text(cell[f"vs_{b}"][m]) for b in ("pixels", "hog")
                 for m in ("purity", "f_score")]  # fmt: skip
        lines.append(f"| {label} | {budget} | " + " | ".join(texts) + " |")
    lines += [
        "",
        "Linear SVM on the critic's features at the run's chosen weights (Table I's probe; "
        "support-weighted; per seed):",
        "",
        "| variant | seeds | precision | recall | F1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    final = {label: cell["records"] for (label, _), cell in cells.items()}  # the last budget
    for label, rows in final.items():
        texts = [", ".join(f"{r['svm'][m]:.3f}" for r in rows if r["svm"][m] is not None)
                 for m in ("precision", "recall", "f1")]  # fmt: skip
        seeds = ",".join(str(r["seed"]) for r in rows)
        lines.append(f"| {label} | {seeds} | " + " | ".join(texts) + " |")
    every = [r for cell in cells.values() for r in cell["records"]]
    criteria = [c for c in infowgan_monitor.CRITERIA if all(c in r["choices"] for r in every)]
    lines += [
        "",
        "Q's purity at each label-free choice of weights among the points up to the budget, "
        "against the best point (labels):",
        "",
        "| variant | budget | " + " | ".join(criteria) + " | best |",
        "| --- | --- | " + " | ".join("---" for _ in criteria) + " | --- |",
    ]
    for (label, budget), cell in cells.items():
        rows = cell["records"]
        means = [np.mean([r["choices"][c]["purity"] for r in rows]) for c in criteria]
        means.append(np.mean([r["q_best"]["purity"] for r in rows]))
        lines.append(f"| {label} | {budget} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    base = _label(variants[0])
    others = [_label(v) for v in variants[1:]]
    if others:
        lines += ["", f"Each variant against `{base}` (Q's purity, paired over seeds):", "",
                  "| variant | budget | difference |", "| --- | --- | --- |"]  # fmt: skip
        for label in others:
            for budget in budgets:
                a, b = cells.get((base, budget)), cells.get((label, budget))
                if not a or not b:
                    continue
                pairs = {r["seed"]: r["q"]["purity"] for r in a["records"]}
                shared = [r for r in b["records"] if r["seed"] in pairs]
                if shared:
                    s = effect_map.cell_summary([r["q"]["purity"] for r in shared],
                                                [pairs[r["seed"]] for r in shared])  # fmt: skip
                    lines.append(f"| {label} | {budget} | {effect_map.effect_text(s)} |")
    return "\n".join(lines) + "\n"


def write_map(grid: sweep_grid.Grid, out: str, budgets, command: str) -> list[str]:
    """Writes map.csv, map.md and map.png into `out` from the finished runs; returns
    their paths. UserError when no run has finished."""
    budgets = sorted(budgets)
    records = collect(grid, out, budgets)
    if not records:
        raise UserError(f"--out={out}: no finished run to map yet")
    variants = grid.variants()
    cells = summarise(records, variants, budgets)
    paths = [os.path.join(out, name) for name in ("map.csv", "map.md", "map.png")]
    write_csv(records, paths[0])
    with open(paths[1], "w") as f:
        f.write(format_markdown(cells, variants, budgets, command))
    labels = [_label(v) for v in variants]
    panels = {
        "Q − k-means (pixels), purity": {k: c["vs_pixels"]["purity"] for k, c in cells.items()},
        "Q − k-means (pixels), F": {k: c["vs_pixels"]["f_score"] for k, c in cells.items()},
        "Q − k-means (HOG), purity": {k: c["vs_hog"]["purity"] for k, c in cells.items()},
    }
    title = "InfoWGAN-GP: argmax Q against k-means (mean, 95 % CI)"
    rows = " ".join(k for k, _ in grid.vary) or "run"
    effect_map.save_heat_map(
        panels, labels, budgets, paths[2], row_name=rows, column_name="generator updates",
        title=title,
    )  # fmt: skip
    return paths
