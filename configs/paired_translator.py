"""A supervised reference for the CycleGAN's g_m: the same generator (configs/cyclegan.py's
model.ngf, n_blocks, upsampling, padding) trained WITH the pairs, per-pixel L1 between
g_m(x) and the true target-stain image of the same patch.

    python -m trainers.paired_translator --config=configs/paired_translator.py
    python -m trainers.paired_translator --config=configs/paired_translator.py \
        --config.data.phantoms.difficulty=0.7 --config.workdir=runs/paired_translator_d07

Needs `paired/<stain>/train` in the DATA_ROOT: the built-in phantoms have it (real data
usually does not). Trains on `labeled/train` ↔ `paired/<stain>/train` (labels unused),
keeps the generator with the best validation SSIM and reports SSIM/PSNR/colour error on
val and test beside the identity and Reinhard baselines, exactly as the CycleGAN report
does: the test SSIM is about the best a generator of this size can do from PAS, the
ceiling a CycleGAN g_m is measured against. Writes `generators/<stain>.keras`, `samples/`,
`report.json`. 30 epochs (15 constant, 15 decaying) on the 300 phantom training patches,
2–3 minutes per stain on 2 CPU cores. Measured on the difficulty-0.7 phantoms (the G2C
demo's), PAS→HE test SSIM: 0.712 after 10 epochs (validation SSIM still rising; below
Reinhard's 0.762), 0.777 after 30 (identity 0.739, Reinhard 0.762).
"""

import ml_collections

from kerasg2c.jobs.config_files import load_module

cyclegan = load_module("cyclegan.py", relative_to=__file__)


def get_config() -> ml_collections.ConfigDict:
    config = cyclegan.get_config()  # its data, model.*, optimizer.* and cyclegan.* keys
    config.workdir = "runs/paired_translator"
    config.train.epochs = 30  # constant_epochs + decay_epochs
    config.optimizer.constant_epochs = 15
    config.optimizer.decay_epochs = 15
    return config
