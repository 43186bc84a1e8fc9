"""Stem-block ResNet classifier on the source stain (the G2C branch trained alone:
the M = 0 baseline of the G2C papers, PAS_ONLY).

    python -m trainers.classifier --config=configs/classifier.py
    python -m trainers.classifier --config=configs/classifier.py --config.train.epochs=3

Sized for the built-in phantoms: with no data.root it writes glomerulus
phantoms (noa/ss/gs, 64 px, 300 training patches) into `workdir/data` and
trains a narrow branch on them; on 2 CPU cores this takes under a minute and
reaches a test balanced accuracy above 0.9 (chance: 1/3). report.json,
confusion_matrix.png, learning_curves.png and samples/ land in the workdir.
`configs/classifier_paper.py` has the G2C papers' sizes.
"""

import ml_collections

from kerasg2c.jobs.shared_config import base_config


def get_config() -> ml_collections.ConfigDict:
    config = base_config()
    config.workdir = "runs/classifier"
    # A task of dataset.json "tasks" (e.g. s_vs_noa): its groups become the classes.
    config.data.task = ""
    # Scarce labels: train on this many whole patients of labeled/train, drawn with the
    # seed (0 = all); val and test stay whole. With data.tfds every example is its own
    # patient, so this many examples.
    config.data.max_train_patients = 0
    # Two tasks, e.g. "s_vs_noa,ss_vs_gs": one run each in workdir/<task>/, then the
    # two-step evaluation (the G2C papers' s-vs-noa, then ss-vs-gs on the abnormal patches).
    config.hierarchy = ""

    # --- Model: the G2C branch (stem block + residual down-sampling units) --
    config.model = ml_collections.ConfigDict()
    config.model.branch = "stem_resnet"  # stem_resnet | alexnet (configs/g2c_transfer.py)
    config.model.widths = (16, 32, 64)  # one down-sampling unit per width
    config.model.blocks_per_unit = 3
    config.model.stem_width = 16
    config.model.loss = "focal"  # focal | cross_entropy
    config.model.focal_gamma = 2.0
    # Dropout on the input of the branch's last block while training (0 = none, as the G2C
    # papers' classifier); HistoGAN's feature extractor stage sets its paper's 0.5.
    config.model.dropout_before_last_block = 0.0

    # --- Optimiser: SGD momentum 0.5, lr ÷10 in steps (G2C: 0.01, every 5 epochs;
    # the phantom set has ~10 steps per epoch, so it starts higher and decays later).
    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "sgd"  # sgd | adam
    config.optimizer.learning_rate = 0.05
    config.optimizer.momentum = 0.5
    config.optimizer.decay_every_epochs = 8
    config.optimizer.decay_factor = 0.1

    config.train.epochs = 20
    config.train.batch_size = 32
    # Before every evaluation, batch-norm statistics are recomputed over up to this many
    # training batches (at most one pass; 0 = off): short runs otherwise evaluate with
    # moving averages that trail the weights (kerasg2c/training/precise_bn.py).
    config.train.precise_bn_batches = 16
    return config
