"""The conditional CycleGAN map: where conditioning brings the synthetic Ki-67 index closer
to the truth, over how plainly H&E shows the class × what the condition is
(`python -m trainers.ki67_map`).

Every premise × budget × condition source × seed is one `trainers.ki67_eval` run (a sweep
cell). Its report gives the per-image Ki-67 index error against the truth of both of its
CycleGANs (`metrics.mae_vs_true`): the conditional one, told the run's
`ki67.condition_source`, and the raw (unconditional) one, which does not depend on the
condition. The runs of one premise level and seed share the MIL stages and the raw
CycleGAN (`ki67.stage_cache`), so the raw error is one number per level and seed: the map's
control arm, `unconditional`. Every condition source is an arm paired with it per seed
(`arm_map.draw_map`).
"""

from kerasg2c.errors import UserError
from kerasg2c.jobs import arm_map, sweep, sweep_grid

UNCONDITIONAL = "unconditional"


def records(grid: sweep_grid.Grid, out: str) -> list[dict]:
    """One record per finished run (its conditional CycleGAN's error, the arm being its
    condition source) and one `UNCONDITIONAL` record per premise × budget × seed (the raw
    CycleGAN's error, from the first finished run of that cell and seed)."""
    result, raw = [], {}
    for cell, report in sweep.finished_reports(grid, out):
        premise, budget, source = (v for _, v in cell.variant)
        errors = report["metrics"]["mae_vs_true"]
        if errors["conditional"] is not None:
            result.append(_record(premise, budget, source, cell.seed, errors["conditional"]))
        if errors["raw"] is not None:
            raw.setdefault((premise, budget, cell.seed), errors["raw"])
    result += [_record(p, b, UNCONDITIONAL, s, v) for (p, b, s), v in raw.items()]
    return result


def _record(premise, budget, arm, seed, value) -> dict:
    return {"premise": premise, "budget": budget, "arm": arm, "seed": seed, "value": value}


def map_grid(grid: sweep_grid.Grid) -> sweep_grid.Grid:
    """The map's axes: the runs' premise and budget, then `UNCONDITIONAL` (the control) and
    the condition sources."""
    (premise, budget, (key, sources)) = grid.vary
    return sweep_grid.Grid(
        trainer=grid.trainer,
        config=grid.config,
        vary=(premise, budget, (key, (UNCONDITIONAL, *sources))),
        seeds=grid.seeds,
        sets=grid.sets,
    )


def write_map(grid: sweep_grid.Grid, out: str, command: str):
    """map.csv, map.md and map.png in `out`; returns their paths.

    Raises:
      UserError: no run has finished, or none gave an index error (every synthetic image
        without a detected nucleus: a generator trained too briefly).
    """
    found = records(grid, out)
    if not found and any(True for _ in sweep.finished_reports(grid, out)):
        raise UserError(
            f"--out={out}: the finished runs' synthetic Ki-67 images have no detected nuclei, "
            "so no index error to map (ki67_table.md in each run; train the CycleGANs longer)"
        )
    return arm_map.draw_map(
        found, map_grid(grid), out,
        "Ki-67 index MAE vs true (lower is better)",
        "Conditional CycleGAN: each condition − unconditional", command, lower_is_better=True,
    )  # fmt: skip
