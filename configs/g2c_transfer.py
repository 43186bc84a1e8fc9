"""G2C transferred to another dataset (G2C papers §Transferring to Breast Cancer): the
generators of a G2C/CycleGAN run are reused, not retrained, and fine-tuned jointly with a
new AlexNet-style classifier on 50×50 patches (PAS_ALL+, the AAAI paper's best setting).

    make demo        # first: trains runs/g2c, whose CycleGAN stage gives the generators
    python -m trainers.g2c --config=configs/g2c_transfer.py
    python -m trainers.g2c --config=configs/g2c_transfer.py --config.variant=PAS_ONLY \
        --config.workdir=runs/g2c_transfer_pas_only             # the AlexNet baseline
    python -m kerasg2c.tools.compare runs/g2c_transfer_pas_only runs/g2c_transfer

On the breast IDC patches (binary, 50×50): `--config.data.root=IDC_ROOT
--config.data.task=''` with IDC_ROOT in the layout of docs/DATA.md (classes idc_negative,
idc_positive).
By default the "other dataset" is a new phantom set (seed 1, 50 px) and its binary task
s_vs_noa. Patches are resized to 52 px: the generators down-sample twice, so their input
side must be a multiple of 4. The paper's AlexNet widths are
`--config.model.stem_width=64 --config.model.widths=(192,384,256,256)`; the default is a
narrower one for this CPU.
"""

import ml_collections

from kerasg2c.jobs.config_files import load_module

g2c = load_module("g2c.py", relative_to=__file__)


def get_config() -> ml_collections.ConfigDict:
    config = g2c.get_config()
    config.workdir = "runs/g2c_transfer"
    config.seed = 1
    config.variant = "PAS_ALL_PLUS"
    config.g2c.generators_dir = "runs/g2c/cyclegan/generators"  # pre-trained, reused
    config.g2c.freeze_generators_epochs = 2  # a short warm-up of the new classifier

    config.data.phantoms.size = 50
    config.data.image_size = 52
    config.data.task = "s_vs_noa"

    config.model.branch = "alexnet"
    config.model.stem_width = 32
    config.model.widths = (64, 96, 64, 64)
    config.train.epochs = 12
    config.optimizer.decay_every_epochs = 6
    return config
