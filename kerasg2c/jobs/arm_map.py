"""Mechanism maps: a method's arms against a control arm over a premise knob × a budget.

A map has three --vary axes and seeds. The *premise* is a physical knob of the phantoms the
paper's argument relies on, with a control level where the premise is absent; the *budget*
is what a user spends (labels, epochs); the *arms* are linked config values, the first of
them the control arm (G2C: PAS_ONLY) and the others the method and its oracles. Every
premise × budget × arm × seed is one trainer run in its own folder under --out
(`kerasg2c.jobs.sweep`: a subprocess per run, resumable, a finished run never recomputed),
and one number is read from its report (`metric(report)`, e.g. test balanced accuracy).

The map compares each arm with the control arm in each premise × budget cell, paired over
seeds (a seed draws the phantoms and the initialisation, so both arms of a seed see the same
data): the mean difference with its 95 % t interval and the paired t-test's p
(`effect_map.cell_summary`). It writes map.csv (every run's value), map.md (per cell every
arm's mean ± sd with its per-seed values, then the effects) and map.png (one heat map per
non-control arm: premise rows × budget columns).
"""

import csv
import itertools
import os

from kerasg2c.errors import UserError
from kerasg2c.evaluation import effect_map
from kerasg2c.jobs import sweep, sweep_grid

AXES = ("premise", "budget", "arm")


def grid_for(trainer, config, premise, budget, arms, seeds, sets) -> sweep_grid.Grid:
    """The sweep grid of a map: --vary premise, budget and arms, in that order.

    Args:
      trainer: the trainer module (`trainers.g2c`).
      config: its config file.
      premise, budget: 'key=v1,v2,...' each (the premise's control level among them).
      arms: 'k1:k2=a1:b1,a2:b2,...', the control arm first; at least two arms.
      seeds: '0,1,2'.
      sets: ['key=value', ...] overrides for every run.
    """
    grid = sweep_grid.make_grid(trainer, config, [premise, budget, arms], seeds, sets)
    if len(grid.vary[2][1]) < 2:
        raise UserError(f"--arms={arms}: a map needs the control arm and at least one other")
    return grid


def balanced_accuracy_on_test(report) -> float:
    """A classification map's metric: a run's test balanced accuracy."""
    return report["metrics"]["test"]["balanced_accuracy"]


def with_stage_cache(sets, key: str, out: str) -> list[str]:
    """`sets` with `key=<out>/stages` added unless `key` is given: the map's runs share their
    stages (`stage_cache`) in the map folder."""
    sets = list(sets)
    if not any(s.startswith(f"{key}=") for s in sets):
        sets.append(f"{key}={os.path.join(os.path.abspath(out), 'stages')}")
    return sets


def arm_label(value: str) -> str:
    """'PAS_ALL_PLUS:paired' → 'PAS_ALL_PLUS/paired'."""
    return value.replace(sweep_grid.LINK, "/")


def collect(grid: sweep_grid.Grid, out: str, metric) -> list[dict]:
    """One record per finished run: premise, budget, arm, seed and `metric(report)`."""
    return [
        {
            **dict(zip(AXES, (v for _, v in cell.variant))),
            "seed": cell.seed,
            "value": float(metric(r)),
        }
        for cell, r in sweep.finished_reports(grid, out)
    ]


def summarise(records, grid: sweep_grid.Grid) -> dict:
    """{(arm, premise, budget): `effect_map.cell_summary`(arm, control)} over the seeds at
    which both finished, for every non-control arm."""
    values = {(r["arm"], r["premise"], r["budget"], r["seed"]): r["value"] for r in records}
    (_, premises), (_, budgets), (_, (control, *others)) = grid.vary
    cells = {}
    for arm, premise, budget in itertools.product(others, premises, budgets):
        pairs = [
            (values[arm, premise, budget, s], values[control, premise, budget, s])
            for s in grid.seeds
            if (arm, premise, budget, s) in values and (control, premise, budget, s) in values
        ]
        if pairs:
            cells[arm, premise, budget] = effect_map.cell_summary(*zip(*pairs))
    return cells


def write_csv(records, path, grid: sweep_grid.Grid, metric_name: str) -> None:
    """map.csv: one row per finished run (premise, budget, arm, seed, value)."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([grid.vary[0][0], grid.vary[1][0], "arm", "seed", metric_name])
        for r in records:
            writer.writerow(
                [r["premise"], r["budget"], arm_label(r["arm"]), r["seed"], f"{r['value']:.4f}"]
            )


def format_markdown(records, cells, grid: sweep_grid.Grid, metric_name, command) -> str:
    """map.md: the command, every arm per cell with its seeds, then each arm − control."""
    (p_key, premises), (b_key, budgets), (_, arms) = grid.vary
    lines = [
        f"Command: `{command}`",
        "",
        f"Metric: {metric_name}; per-seed values in seed order.",
        "",
    ]
    lines += [
        f"| {p_key} | {b_key} | arm | seeds | mean ± sd | per seed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for premise, budget, arm in itertools.product(premises, budgets, arms):
        rows = [
            r for r in records if (r["premise"], r["budget"], r["arm"]) == (premise, budget, arm)
        ]
        if not rows:
            continue
        rows.sort(key=lambda r: r["seed"])
        values = [r["value"] for r in rows]
        seeds = ",".join(str(r["seed"]) for r in rows)
        spread = effect_map.spread(values)
        per_seed = ", ".join(f"{v:.3f}" for v in values)
        lines.append(
            f"| {premise} | {budget} | {arm_label(arm)} | {seeds} | {spread} | {per_seed} |"
        )
    lines += [
        "",
        f"Each arm against the control arm `{arm_label(arms[0])}`, paired over seeds "
        "(mean difference [95 % interval], paired t-test p):",
        "",
        f"| arm | {p_key} | {b_key} | n | difference |",
        "| --- | --- | --- | --- | --- |",
    ]
    for (arm, premise, budget), s in cells.items():
        lines.append(
            f"| {arm_label(arm)} | {premise} | {budget} | {s['n']} | {effect_map.effect_text(s)} |"
        )
    return "\n".join(lines) + "\n"


def write_map(grid: sweep_grid.Grid, out: str, metric, metric_name: str, title: str, command: str):
    """Writes map.csv, map.md and map.png into `out` from the finished runs; returns their
    paths.

    Args:
      grid: the map's grid (`grid_for`).
      out: the map folder, holding one folder per run.
      metric: `metric(report)`, the number a run's report.json gives (e.g. test balanced
        accuracy).
      metric_name: what the tables and the figure call it.
      title: the figure's title.
      command: the command that made the map, written at the top of map.md.

    Raises:
      UserError: no run has finished yet.

    Examples:
      >>> grid = grid_for("g2c", "configs/g2c_map.py", "data.phantoms.pas_matrix_fade=0,0.9",
      ...                 "data.max_train_patients=0", "variant=PAS_ONLY,PAS_ALL_PLUS", "0,1,2", [])
      >>> write_map(grid, "runs/map", lambda r: r["metrics"]["test"]["balanced_accuracy"],
      ...           "test balanced accuracy", "G2C", "python -m trainers.g2c_map ...")
    """
    return draw_map(collect(grid, out, metric), grid, out, metric_name, title, command)


def draw_map(
    records, grid: sweep_grid.Grid, out: str, metric_name: str, title: str, command,
    lower_is_better=False,
):  # fmt: skip
    """`write_map` from records already collected (premise, budget, arm, seed, value; the
    values of `grid.vary`'s three axes): for a map whose runs are not one grid's cells.
    `lower_is_better`: the metric is an error (the figure's red marks an arm below the
    control).

    Raises:
      UserError: no record.
    """
    if not records:
        raise UserError(f"--out={out}: no finished run to map yet")
    cells = summarise(records, grid)
    paths = [os.path.join(out, name) for name in ("map.csv", "map.md", "map.png")]
    write_csv(records, paths[0], grid, metric_name)
    with open(paths[1], "w") as f:
        f.write(format_markdown(records, cells, grid, metric_name, command))
    (p_key, premises), (b_key, budgets), (_, arms) = grid.vary
    panels = {
        f"{arm_label(arm)} − {arm_label(arms[0])}": {
            (premise, budget): s for (a, premise, budget), s in cells.items() if a == arm
        }
        for arm in arms[1:]
    }
    effect_map.save_heat_map(
        panels, list(premises), list(budgets), paths[2], row_name=p_key, column_name=b_key,
        title=f"{title} ({metric_name}; mean, 95 % CI)", lower_is_better=lower_is_better,
    )  # fmt: skip
    return paths
