"""The HistoGAN selection map: where selecting synthetic images lifts the classifier, over
the share of off-class candidates × labelled patients, every arm of the paper's Table 1
beside the control arm (`kerasg2c.jobs.selection_map`; plan and results in docs/RESULTS.md).

python -m trainers.histogan_map --out=runs/histogan_map
python -m trainers.histogan_map --out=runs/histogan_map_tiny \
    --premise=histogan.off_class_share=0,0.5 --budget=data.max_train_patients=10 --seeds=0 \
    --set=feature_extractor.train.epochs=2 --classifier_set=train.epochs=2

The candidates are held-out real images (configs/histogan_map.py), a known share of them from
the other classes: the map asks whether the selection removes what it should, with no
generator in the way. For every premise × budget × seed one HistoGAN stage run writes the arms'
DATA_ROOTs under --out/stages; the classifier (--classifier_config, at the stage's image size)
trains on each arm with the same seed under --out/arms. Each arm's test balanced accuracy is
compared with the control arm's (--control, default traditional: what a user has without a
GAN) of the same seed. Rerunning the same command resumes; --map_only only redraws. Exit
codes: 0 every run finished; 1 a run failed (the rest are mapped); 2 a flag cannot be used
(one line naming it); 130 after Ctrl-C.
"""

import shlex
import sys

from absl import app, flags

from kerasg2c.errors import UserError
from kerasg2c.jobs import arm_map, augment_eval_job, selection_map, sweep

_CONFIG = flags.DEFINE_string("config", "configs/histogan_map.py", "The HistoGAN stage config.")
_CLASSIFIER = flags.DEFINE_string(
    "classifier_config", "configs/classifier.py", "The classifier config every arm trains."
)
_PREMISE = flags.DEFINE_string(
    "premise", "histogan.off_class_share=0,0.25,0.5", "key=v1,v2: the map's rows (0: control)."
)
_BUDGET = flags.DEFINE_string(
    "budget", "data.max_train_patients=6,15", "key=v1,v2: the map's columns."
)
_CONTROL = flags.DEFINE_enum(
    "control", "traditional", augment_eval_job.ARMS, "The arm the others are compared to."
)
_ARMS = flags.DEFINE_list(
    "arms", list(augment_eval_job.ARMS), "The arms trained (the control among them)."
)
_SET = flags.DEFINE_multi_string("set", [], "key=value: an override of every stage run.")
_CLASSIFIER_SET = flags.DEFINE_multi_string(
    "classifier_set", [], "key=value: an override of every arm's classifier run."
)
_SEEDS = flags.DEFINE_string("seeds", "0,1,2", "Comma-separated seeds (config.seed).")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at a time.", lower_bound=1)
_OUT = flags.DEFINE_string("out", None, "Map folder: stages/, arms/ and the map.")
_MAP_ONLY = flags.DEFINE_bool("map_only", False, "Only redraw the map from finished runs.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    command = shlex.join(["python", "-m", "trainers.histogan_map", *sys.argv[1:]])

    def work():
        if not _OUT.value:
            raise UserError("--out: required (the map folder)")
        stages = selection_map.stage_grid(
            _CONFIG.value, _PREMISE.value, _BUDGET.value, _SEEDS.value, _SET.value
        )
        arms = selection_map.check_arms(_ARMS.value, _CONTROL.value)
        arm_grids, failed = selection_map.run(
            stages, _OUT.value, arms, _CLASSIFIER.value, _CLASSIFIER_SET.value,
            _PARALLEL.value, _MAP_ONLY.value,
        )  # fmt: skip
        paths = selection_map.write_map(
            arm_grids, stages, _OUT.value, arm_map.balanced_accuracy_on_test,
            "test balanced accuracy", arms, command,
        )  # fmt: skip
        total = len(stages.cells()) * (1 + len(arms))
        return paths, [], failed, total

    return sweep.run_cli(work)


if __name__ == "__main__":
    app.run(main)
