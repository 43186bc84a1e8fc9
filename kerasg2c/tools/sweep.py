"""Runs a trainer over a grid of seeds and config values, then summarises the runs.

python -m kerasg2c.tools.sweep --config=configs/g2c.py --seeds=0,1,2 \
    --vary=variant=PAS_ONLY,PAS_ALL_PLUS --out=runs/sweep_g2c [--set=train.epochs=6]

Rerunning the same command resumes (finished cells are skipped); --aggregate_only only
rewrites the summary. Exit codes: 0 every cell finished; 1 a cell failed (the rest are
still summarised); 2 a flag cannot be used (one line naming it); 130 after Ctrl-C (no
further runs start; rerun to resume).

Examples:

    kerasg2c sweep --config=configs/g2c.py --seeds=0,1,2 \\
        --vary=variant=PAS_ONLY,PAS_ALL_PLUS --out=runs/sweep_g2c --set=train.epochs=6
    kerasg2c sweep --out=runs/sweep_g2c --aggregate_only
"""

import shlex
import sys

from absl import app, flags

from kerasg2c.errors import UserError
from kerasg2c.jobs import sweep, sweep_grid

_CONFIG = flags.DEFINE_string("config", None, "The trainer's config file.")
_TRAINER = flags.DEFINE_string(
    "trainer",
    None,
    "trainers.<name> to run (or a dotted module path); default: the config file's stem.",
)
_SEEDS = flags.DEFINE_string("seeds", "0,1,2", "Comma-separated seeds (config.seed).")
_VARY = flags.DEFINE_multi_string(
    "vary", [], "key=v1,v2: config values to sweep; the grid is every combination x --seeds."
)
_SET = flags.DEFINE_multi_string("set", [], "key=value: a config override for every run.")
_OUT = flags.DEFINE_string("out", None, "Sweep folder: sweep.json, one workdir per run, summary.")
_BASELINE = flags.DEFINE_string(
    "baseline",
    None,
    "key=value of a --vary key the other rows are compared to (default: "
    "the first value of the first --vary).",
)
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time.", lower_bound=1)
_SPLIT = flags.DEFINE_enum("split", "test", ["train", "val", "test"], "Split to summarise.")
_AGGREGATE_ONLY = flags.DEFINE_bool(
    "aggregate_only", False, "Only summarise the finished runs of --out (grid from sweep.json)."
)


def _grid(out: str) -> sweep_grid.Grid:
    if _AGGREGATE_ONLY.value and not _CONFIG.value:
        return sweep.load_grid(out)
    grid = sweep_grid.make_grid(
        _TRAINER.value, _CONFIG.value, _VARY.value, _SEEDS.value, _SET.value
    )
    if _AGGREGATE_ONLY.value:
        sweep.check_grid(grid, out)
    else:
        sweep.record_grid(grid, out)
    return grid


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    command = shlex.join(["python", "-m", "kerasg2c.tools.sweep", *sys.argv[1:]])

    def work():
        if not _OUT.value:
            raise UserError("--out: required (the sweep folder)")
        grid = _grid(_OUT.value)
        baseline = grid.baseline(_BASELINE.value)
        failed = [] if _AGGREGATE_ONLY.value else sweep.run_sweep(grid, _OUT.value, _PARALLEL.value)
        paths = sweep.summarize(grid, _OUT.value, _SPLIT.value, baseline, command)
        return paths, [], failed, len(grid.cells())

    return sweep.run_cli(work)


if __name__ == "__main__":
    app.run(main)
