"""Stem-block ResNet classifier on the source stain (SPEC.md §2 branch, trained alone).

    python -m trainers.classifier --config=configs/classifier.py
    python -m trainers.classifier --config=configs/classifier.py --config.train.epochs=3

With no data.root it writes glomerulus phantoms (noa/ss/gs, 64 px) into
`workdir/data` and trains on them: on 2 CPU cores the default run takes a few
minutes and reaches a balanced accuracy well above chance (1/3); report.json,
confusion_matrix.png and learning_curves.png land in the workdir.
"""

import ml_collections

from configs import common


def get_config() -> ml_collections.ConfigDict:
    config = common.base_config()
    config.workdir = "runs/classifier"

    # --- Model: the G2C branch (stem block + residual down-sampling units) --
    config.model = ml_collections.ConfigDict()
    config.model.widths = (16, 32, 64)  # one down-sampling unit per width
    config.model.blocks_per_unit = 3
    config.model.stem_width = 16
    config.model.loss = "focal"  # focal | cross_entropy
    config.model.focal_gamma = 2.0

    # --- Optimiser (G2C: SGD momentum 0.5, lr 0.01, /10 every 5 epochs) -----
    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "sgd"  # sgd | adam
    config.optimizer.learning_rate = 0.01
    config.optimizer.momentum = 0.5
    config.optimizer.decay_every_epochs = 5
    config.optimizer.decay_factor = 0.1

    config.train.epochs = 12
    config.train.batch_size = 32
    return config
