"""HistoGAN's classification comparison (paper §4.3.3, Tables 1–2) on the DATA_ROOTs a
HistoGAN run wrote.

    python -m trainers.histogan --config=configs/histogan.py
    python -m trainers.augment_eval --config=configs/augment_eval.py
    python -m trainers.augment_eval --config=configs/augment_eval.py \
        --config.seeds=0,1 --config.sets=train.epochs=3

Trains the classifier of `classifier_config` once per arm and seed (6 arms × 5 seeds by
default; arms in kerasg2c/jobs/augment_eval_job.py): baseline (no augmentation), traditional
augmentation, and the four GAN arms (traditional augmentation kept on). Rerunning resumes.
`out` gets sweep.json, one run folder per arm and seed, summary.md, summary.json and one
PNG per metric; each arm is compared to `unselected`.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    # The HistoGAN run folder: its report.json's selection.roots and its own DATA_ROOT.
    config.histogan_run = "runs/histogan"
    # The classifier config every arm trains (its data.root and data.augment are set per arm).
    config.classifier_config = "configs/classifier.py"
    # The trainer module (a dotted path; '' = trainers.<classifier_config's file stem>).
    config.trainer = ""
    config.seeds = "0,1,2,3,4"  # comma-separated; the paper reports 5 runs
    config.out = "runs/augment_eval"
    config.parallel = 1  # runs at a time
    # "key=value" overrides of classifier_config for every run, e.g. ("train.epochs=3",);
    # --config.sets=train.epochs=3 gives a one-element tuple.
    config.sets = ()
    config.split = "test"  # the split summarised: train | val | test
    return config
