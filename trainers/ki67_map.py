"""The conditional CycleGAN map: where conditioning the H&E → Ki-67 CycleGAN brings the
synthetic Ki-67 index closer to the truth, over how plainly H&E shows a tile's class × the
condition given (`kerasg2c.jobs.condition_map`; plan and results in docs/RESULTS.md).

python -m trainers.ki67_map --out=runs/ki67_map
python -m trainers.ki67_map --out=runs/ki67_map_tiny --premise=data.phantoms.he_cue=0,1 \\
    --arms=ki67.condition_source=shuffled,true --seeds=0 --set=cyclegan_stage.train.epochs=1

Every premise × budget × condition source × seed is one `trainers.ki67_eval` run under
--out; the runs of one premise level and seed share the MIL stages and the raw CycleGAN
through `--out/stages` (`ki67.stage_cache`). Each condition source's per-image Ki-67 index
error (val and test) is compared with the raw CycleGAN's of the same seed (the control arm,
`unconditional`). Rerunning the same command resumes; --map_only only redraws. Exit codes:
0 every run finished; 1 a run failed (the rest are mapped); 2 a flag cannot be used (one
line naming it); 130 after Ctrl-C.
"""

import shlex
import sys

from absl import app, flags

from kerasg2c.errors import UserError
from kerasg2c.jobs import arm_map, condition_map, sweep

_CONFIG = flags.DEFINE_string("config", "configs/ki67_map.py", "The ki67_eval config file.")
_PREMISE = flags.DEFINE_string(
    "premise", "data.phantoms.he_cue=1,0.5,0", "key=v1,v2: the map's rows."
)
_BUDGET = flags.DEFINE_string("budget", "data.phantoms.n_train=60", "key=v1,v2: the map's columns.")
_ARMS = flags.DEFINE_string(
    "arms", "ki67.condition_source=shuffled,mil,true", "The condition sources, one per arm."
)
_SET = flags.DEFINE_multi_string("set", [], "key=value: a config override for every run.")
_SEEDS = flags.DEFINE_string("seeds", "0,1,2", "Comma-separated seeds (config.seed).")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time.", lower_bound=1)
_OUT = flags.DEFINE_string("out", None, "Map folder: sweep.json, one folder per run, the map.")
_MAP_ONLY = flags.DEFINE_bool("map_only", False, "Only redraw the map from finished runs.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    command = shlex.join(["python", "-m", "trainers.ki67_map", *sys.argv[1:]])

    def work():
        if not _OUT.value:
            raise UserError("--out: required (the map folder)")
        if not _ARMS.value.startswith("ki67.condition_source="):
            raise UserError(f"--arms={_ARMS.value}: expected ki67.condition_source=a,b,...")
        sets = arm_map.with_stage_cache(_SET.value, "ki67.stage_cache", _OUT.value)
        grid = arm_map.grid_for(
            "ki67_eval", _CONFIG.value, _PREMISE.value, _BUDGET.value, _ARMS.value,
            _SEEDS.value, sets,
        )  # fmt: skip
        sweep.record_grid(grid, _OUT.value)
        failed = [] if _MAP_ONLY.value else sweep.run_sweep(grid, _OUT.value, _PARALLEL.value)
        paths = condition_map.write_map(grid, _OUT.value, command)
        return paths, [], failed, len(grid.cells())

    return sweep.run_cli(work)


if __name__ == "__main__":
    app.run(main)
