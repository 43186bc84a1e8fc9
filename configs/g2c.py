"""G2C, generator-to-classifier (SPEC.md §2): the CycleGAN stage's g_m feed a
weight-shared stem-block ResNet branch per stain, trained jointly.

    python -m trainers.cyclegan --config=configs/cyclegan.py        # first: g_m per stain
    python -m trainers.g2c --config=configs/g2c.py                  # PAS_ALL_PLUS
    python -m trainers.g2c --config=configs/g2c.py --config.variant=PAS_ONLY \
        --config.workdir=runs/g2c_pas_only

Variants: PAS_ONLY, PAS_HE, PAS_MASSON, PAS_PASM, PAS_ALL, PAS_ALL_PLUS (with
cross-stain attention); `--config.g2c.train_generators=False` is the
frozen-generator ablation. Sized for the 64 px phantoms like
configs/classifier.py; the papers' schedule (30 epochs, lr 0.01 ÷10 every 5,
generators frozen for 5) is the comment below each changed value.
"""

import ml_collections

from configs import classifier


def get_config() -> ml_collections.ConfigDict:
    config = classifier.get_config()
    config.workdir = "runs/g2c"
    config.variant = "PAS_ALL_PLUS"

    config.g2c = ml_collections.ConfigDict()
    config.g2c.generators_dir = "runs/cyclegan/generators"  # the CycleGAN stage's export
    config.g2c.freeze_generators_epochs = 5
    config.g2c.train_generators = True  # False: frozen-generator ablation

    config.model.attention_reduction = 16
    return config
