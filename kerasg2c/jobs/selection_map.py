"""HistoGAN's selection map: where selecting synthetic images helps, over how many of the
candidates are off-class × the labelled patients (`python -m trainers.histogan_map`).

A map cell is two sweeps (`kerasg2c.jobs.sweep`, each resumable):

1. *Stages*: one HistoGAN run (`trainers.histogan`) per premise level × budget × seed,
   under `<out>/stages/`. The map's config makes its candidates held-out real images
   (`histogan.synthetic_source=held_out`, `kerasg2c.jobs.histogan_pool`) with a known
   off-class share (the premise); no GAN is trained, so the map measures the selection
   itself, not a generator.
2. *Arms*: for every finished stage run, the classifier trained on each of its six
   DATA_ROOTs (`augment_eval_job.arms`: baseline, traditional and the four GAN arms) with
   the stage's seed, under `<out>/arms/<stage run>/`.

The map reads each arm run's metric, pairs every arm with the control arm of the same
premise, budget and seed, and draws it with `arm_map.draw_map` (map.csv, map.md, map.png).
"""

import os

import ml_collections

from kerasg2c import json_files
from kerasg2c.errors import UserError
from kerasg2c.evaluation import effect_map
from kerasg2c.jobs import arm_map, augment_eval_job, shared_config, sweep, sweep_grid

STAGES, ARMS_FOLDER = "stages", "arms"


def stage_grid(config, premise, budget, seeds, sets) -> sweep_grid.Grid:
    """The HistoGAN stage runs: --vary premise and budget, every seed."""
    return sweep_grid.make_grid("histogan", config, [premise, budget], seeds, sets)


def check_arms(arms, control) -> tuple:
    """The map's arms, `control` first; refuses unknown names, naming the flag."""
    unknown = [a for a in arms if a not in augment_eval_job.ARMS]
    if unknown or len(set(arms)) < 2 or control not in arms:
        raise UserError(
            f"--arms={','.join(arms)}: expected two or more of {augment_eval_job.ARMS}, "
            f"--control ({control}) among them"
        )
    return (control, *(a for a in augment_eval_job.ARMS if a in arms and a != control))


def arm_grid(stage_run: str, seed: int, classifier_config: str, sets, arms) -> sweep_grid.Grid:
    """The `arms` (names) of one finished stage run, trained with its seed at its image
    size (then `sets`)."""
    stage = json_files.read_object(os.path.join(stage_run, "config.json"))
    height, width = shared_config.image_shape(stage)
    sets = [f"data.image_size={width}", f"data.image_height={height}", *sets]
    config = ml_collections.ConfigDict(
        {
            "histogan_run": stage_run,
            "classifier_config": classifier_config,
            "trainer": "",
            "seeds": str(seed),
            "out": os.path.join(stage_run, ARMS_FOLDER),  # only checked for being given
            "parallel": 1,
            "split": "test",
            "sets": tuple(sets),
        }
    )
    chosen = [a for a in augment_eval_job.arms(stage_run) if a.name in arms]
    return augment_eval_job.make_grid(config, chosen)


def run(stages: sweep_grid.Grid, out: str, arms, classifier_config, sets, parallel, map_only):
    """Runs (unless `map_only`) every stage, then every finished stage's `arms`; returns
    (the arm grids by stage cell, the failed runs)."""
    stage_out = os.path.join(out, STAGES)
    sweep.record_grid(stages, stage_out)
    failed = [] if map_only else sweep.run_sweep(stages, stage_out, parallel)
    arm_grids = {}
    for cell, _ in sweep.finished_reports(stages, stage_out):
        stage_run = os.path.join(stage_out, cell.name)
        grid = arm_grid(stage_run, cell.seed, classifier_config, sets, arms)
        arm_out = os.path.join(out, ARMS_FOLDER, cell.name)
        sweep.record_grid(grid, arm_out)
        if not map_only:
            failed += sweep.run_sweep(grid, arm_out, parallel)
        arm_grids[cell] = grid
    return arm_grids, failed


def records(arm_grids: dict, out: str, metric) -> list[dict]:
    """One record per finished arm run: premise, budget (its stage's), arm name, seed and
    `metric(report)`."""
    result = []
    for stage, grid in arm_grids.items():
        (premise, budget) = (v for _, v in stage.variant)
        names = {
            a.value: a.name for a in augment_eval_job.arms(os.path.join(out, STAGES, stage.name))
        }
        arm_out = os.path.join(out, ARMS_FOLDER, stage.name)
        for cell, report in sweep.finished_reports(grid, arm_out):
            result.append(
                {
                    "premise": premise,
                    "budget": budget,
                    "arm": names[cell.variant[0][1]],
                    "seed": cell.seed,
                    "value": float(metric(report)),
                }
            )
    return result


def map_grid(stages: sweep_grid.Grid, arms) -> sweep_grid.Grid:
    """The map's axes as a grid: the stages' premise and budget, then `arms` (the control
    first, `check_arms`)."""
    return sweep_grid.Grid(
        trainer=stages.trainer,
        config=stages.config,
        vary=(*stages.vary, ("arm", arms)),
        seeds=stages.seeds,
        sets=stages.sets,
    )


def kept_lines(stages: sweep_grid.Grid, out: str) -> list[str]:
    """map.md's mechanism table: per premise × budget, the share of off-class images among
    the candidates and among what each GAN arm kept (mean ± sd over the seeds, from the
    stage runs' `metrics.off_class_kept`)."""
    kept = {}
    for cell, report in sweep.finished_reports(stages, os.path.join(out, STAGES)):
        shares = report["metrics"].get("off_class_kept") or {}
        for arm, share in shares.items():
            kept.setdefault(tuple(v for _, v in cell.variant), {}).setdefault(arm, []).append(share)
    if not kept:
        return []
    arms = ("candidates", *augment_eval_job.GAN_ARMS)
    (p_key, _), (b_key, _) = stages.vary
    lines = [
        "",
        "Off-class images kept: their share among the candidates and among each arm's kept "
        "images (mean ± sd over seeds; the stage runs' report.json, metrics.off_class_kept):",
        "",
        f"| {p_key} | {b_key} | " + " | ".join(arms) + " |",
        "| --- | --- | " + " | ".join("---" for _ in arms) + " |",
    ]
    for (premise, budget), shares in kept.items():
        cells = [effect_map.spread(shares[a]) if a in shares else "" for a in arms]
        lines.append(f"| {premise} | {budget} | " + " | ".join(cells) + " |")
    return lines


def write_map(arm_grids, stages, out, metric, metric_name, arms, command):
    """map.csv, map.md (with `kept_lines`) and map.png in `out` (`arm_map.draw_map`) of
    `arms` (the control first); returns their paths."""
    grid = map_grid(stages, arms)
    title = f"HistoGAN selection: each arm − {arms[0]}"
    paths = arm_map.draw_map(
        records(arm_grids, out, metric), grid, out, metric_name, title, command
    )
    with open(paths[1], "a") as f:
        f.write("\n".join(kept_lines(stages, out)) + "\n")
    return paths
