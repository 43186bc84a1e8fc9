"""The G2C mechanism map: where PAS_ALL+ beats PAS_ONLY, over how faintly PAS shows the
class cue × labelled patients, with the stain oracle and the supervised generators beside
the CycleGAN's (`kerasg2c.jobs.arm_map`; plan and results in docs/RESULTS.md).

python -m trainers.g2c_map --out=runs/g2c_map
python -m trainers.g2c_map --out=runs/g2c_map_tiny --premise=data.phantoms.pas_matrix_fade=0,0.9 \
    --budget=data.max_train_patients=0 --seeds=0 --set=train.epochs=2

Every premise × budget × arm × seed is one `trainers.g2c` run under --out; each run's test
balanced accuracy is compared with the control arm's (PAS_ONLY) of the same seed. The runs
share their generator stages through `--out/stages` (`g2c.stage_cache`): the runs of one
premise level, seed and stain source train their generators once, whatever the budget. Rerunning
the same command resumes (finished runs are skipped); --map_only only redraws. Paper-size
maps are a GPU's: `--config=configs/g2c.py` (64 px) with `--set=cyclegan_stage.train.epochs=200`
and the like. Exit codes: 0 every run finished; 1 a run failed (the rest are mapped); 2 a
flag cannot be used (one line naming it); 130 after Ctrl-C.
"""

import shlex
import sys

from absl import app, flags

from kerasg2c.errors import UserError
from kerasg2c.jobs import arm_map, sweep

ARMS = "PAS_ONLY:generated,PAS_ALL_PLUS:paired,PAS_ALL_PLUS:supervised,PAS_ALL_PLUS:generated"

_CONFIG = flags.DEFINE_string("config", "configs/g2c_map.py", "The G2C config file.")
_PREMISE = flags.DEFINE_string(
    "premise", "data.phantoms.pas_matrix_fade=0,0.315,0.9", "key=v1,v2: the map's rows."
)
_BUDGET = flags.DEFINE_string(
    "budget", "data.max_train_patients=10,0", "key=v1,v2: the map's columns (0 = all)."
)
_ARMS = flags.DEFINE_string(
    "arms", f"variant:g2c.stain_source={ARMS}", "Linked keys=values per arm, the control first."
)
_SET = flags.DEFINE_multi_string("set", [], "key=value: a config override for every run.")
_SEEDS = flags.DEFINE_string("seeds", "0,1,2", "Comma-separated seeds (config.seed).")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time.", lower_bound=1)
_OUT = flags.DEFINE_string("out", None, "Map folder: sweep.json, one folder per run, the map.")
_MAP_ONLY = flags.DEFINE_bool("map_only", False, "Only redraw the map from finished runs.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    command = shlex.join(["python", "-m", "trainers.g2c_map", *sys.argv[1:]])

    def work():
        if not _OUT.value:
            raise UserError("--out: required (the map folder)")
        sets = arm_map.with_stage_cache(_SET.value, "g2c.stage_cache", _OUT.value)
        grid = arm_map.grid_for(
            "g2c", _CONFIG.value, _PREMISE.value, _BUDGET.value, _ARMS.value, _SEEDS.value, sets
        )
        sweep.record_grid(grid, _OUT.value)
        failed = [] if _MAP_ONLY.value else sweep.run_sweep(grid, _OUT.value, _PARALLEL.value)
        paths = arm_map.write_map(
            grid, _OUT.value, arm_map.balanced_accuracy_on_test, "test balanced accuracy",
            "G2C: each arm − PAS_ONLY", command,
        )  # fmt: skip
        return paths, [], failed, len(grid.cells())

    return sweep.run_cli(work)


if __name__ == "__main__":
    app.run(main)
