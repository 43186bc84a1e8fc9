"""Trains the classifier on every arm of a HistoGAN run over several seeds and summarises
them as HistoGAN's comparison (paper §4.3.3): baseline, + traditional augmentation, + GAN
augmentation without selection, + entropy-only, + centroid-only, + selective selection.

python -m trainers.augment_eval --config=configs/augment_eval.py \
    [--config.histogan_run=runs/histogan] [--config.seeds=0,1,2,3,4]

One `kerasg2c.jobs.sweep` over the linked key data.root:data.augment (arms:
kerasg2c/jobs/augment_eval_job.py), resumable: rerunning skips finished runs. Writes the
sweep's summary into `out` and prints one line per arm (accuracy, AUC, sensitivity,
specificity as mean ± sd; the paired per-patient t-test against `unselected`).
Exit codes: 0 every run finished; 1 a run failed (the rest are still summarised); 2 a
config value or the HistoGAN run cannot be used (one line naming the key or file); 130
after Ctrl-C (no further runs start; rerun to resume).
"""

import shlex
import sys

from absl import app
from ml_collections import config_flags

from kerasg2c.jobs import augment_eval_job as evaluation
from kerasg2c.jobs import launch, sweep

_CONFIG = config_flags.DEFINE_config_file("config", "configs/augment_eval.py", lock_config=True)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config = _CONFIG.value
    command = shlex.join(["python", "-m", "trainers.augment_eval", *sys.argv[1:]])

    def work():
        arms = evaluation.arms(config.histogan_run)
        grid = evaluation.make_grid(config, arms)
        evaluation.record_grid(grid, config.out)
        failed = sweep.run_sweep(grid, config.out, config.parallel)
        paths, summary = evaluation.summarize(grid, config.out, config.split, arms, command)
        return paths, evaluation.arm_lines(summary, arms), failed, len(grid.cells())

    return sweep.run_cli(work)


if __name__ == "__main__":
    launch.refuse_broken_config_file()
    app.run(main)
