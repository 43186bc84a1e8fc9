"""Maps where InfoWGAN-GP's argmax Q clusters cells better than k-means: every --vary
combination × seed is one `trainers.infowgan` run, read at each of --budgets (generator
updates); writes map.csv, map.md and map.png into --out (`kerasg2c.jobs.infowgan_map`).

python -m trainers.infowgan_map --out=runs/infowgan_map
python -m trainers.infowgan_map --out=runs/recipe --vary=infogan.n_critic=5,1,2 \
    --budgets=360,1000 --parallel=2

The default grid is the nuisance map of docs/RESULTS.md: the cell phantoms' nuisance level
(0 = none, the control) × 200, 360 and 1,000 generator updates × seeds 0, 1, 2, every other
key at configs/infowgan.py's defaults. Rerunning the same command resumes (finished runs
are skipped); --map_only only redraws. Exit codes: 0 every run finished; 1 a run failed
(the rest are mapped); 2 a flag cannot be used (one line naming it); 130 after Ctrl-C.
"""

import shlex
import sys

from absl import app, flags

from kerasg2c.errors import UserError
from kerasg2c.jobs import infowgan_map, sweep

_CONFIG = flags.DEFINE_string("config", "configs/infowgan.py", "The InfoWGAN-GP config file.")
_VARY = flags.DEFINE_multi_string(
    "vary", ["data.phantoms.nuisance=0,1,2"], "key=v1,v2: the map's rows (every combination)."
)
_SET = flags.DEFINE_multi_string("set", [], "key=value: a config override for every run.")
_SEEDS = flags.DEFINE_string("seeds", "0,1,2", "Comma-separated seeds (config.seed).")
_BUDGETS = flags.DEFINE_list("budgets", ["200", "360", "1000"], "Generator updates read off.")
_EVAL_EVERY = flags.DEFINE_integer("eval_every", 40, "Generator updates between evaluations.")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time.", lower_bound=1)
_OUT = flags.DEFINE_string("out", None, "Map folder: sweep.json, one folder per run, the map.")
_MAP_ONLY = flags.DEFINE_bool("map_only", False, "Only redraw the map from finished runs.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    command = shlex.join(["python", "-m", "trainers.infowgan_map", *sys.argv[1:]])

    def work():
        if not _OUT.value:
            raise UserError("--out: required (the map folder)")
        try:
            budgets = [int(b) for b in _BUDGETS.value]
        except ValueError as e:
            raise UserError(f"--budgets={','.join(_BUDGETS.value)}: expected integers") from e
        grid = infowgan_map.grid_for(
            _CONFIG.value, _VARY.value, _SEEDS.value, _SET.value, budgets, _EVAL_EVERY.value
        )
        sweep.record_grid(grid, _OUT.value)
        failed = [] if _MAP_ONLY.value else sweep.run_sweep(grid, _OUT.value, _PARALLEL.value)
        paths = infowgan_map.write_map(grid, _OUT.value, budgets, command)
        return paths, [], failed, len(grid.cells())

    return sweep.run_cli(work)


if __name__ == "__main__":
    app.run(main)
