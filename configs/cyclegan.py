"""CycleGAN stain translation: one generator pair per target stain, the initialisation
G2C loads (its forward generators g_m; G2C papers, §Initializing the generators).

    python -m trainers.cyclegan --config=configs/cyclegan.py
    python -m trainers.cyclegan --config=configs/cyclegan.py --config.cyclegan.target_stains=HE

Trains PAS→HE, PAS→MASSON and PAS→PASM on 100 unlabeled patches per stain from
`reference/` (the G2C recipe), sized for the built-in 64 px phantoms on a CPU
(ngf 16, 6 residual blocks). With phantoms every validation patch has its true
target-stain image, so each epoch measures SSIM/PSNR/colour error of g_m(x)
against it, keeps the best generator, and the report compares it with the
identity (x itself) and Reinhard colour-transfer baselines. Writes
`generators/<stain>.keras`, `samples/`, `report.json` into the workdir.
`configs/cyclegan_paper.py` has the reference sizes (ngf 64, 9 blocks, 256 px).
"""

import ml_collections

from kerasg2c.jobs.shared_config import base_config


def get_config() -> ml_collections.ConfigDict:
    config = base_config()
    config.workdir = "runs/cyclegan"
    config.data.augment = True

    # --- Which translators -------------------------------------------------
    config.cyclegan = ml_collections.ConfigDict()
    config.cyclegan.source_stain = ""  # '' = dataset.json's source_stain
    config.cyclegan.target_stains = ("HE", "MASSON", "PASM")
    config.cyclegan.n_unlabeled = 100  # patches per stain from reference/ (0 = all)
    # Conditional variant (IHC paper): '' = off; 'labels' = the class of each patch
    # from its folder (source: labeled/train, target: paired/<stain>/train).
    config.cyclegan.condition = ""
    # Epochs (of the training patches) in which each generator first learns the identity,
    # L1 to its own input, before the adversarial phase (0 = none). On the difficulty-0.7
    # phantoms, with the G2C stage's 10 epochs, 0 / 8 / 16 / 32 gave test SSIM of g_m(x)
    # against the true HE 0.45 / 0.66 / 0.70 / 0.74 (identity 0.74); 32 puts MASSON
    # (0.69 vs 0.54) and PASM (0.72 vs 0.63) above identity too (docs/METHODS.md).
    config.cyclegan.identity_warmup_epochs = 32

    # --- Networks ----------------------------------------------------------
    config.model = ml_collections.ConfigDict()
    config.model.ngf = 16
    config.model.n_blocks = 6
    config.model.upsampling = "deconv4"  # deconv4 (AAAI G2C) | deconv3 (IHC Table 2)
    # reflect (reference CycleGAN) | zero (IHC Table 2). The conditional variant needs
    # zero: instance norm removes constant class channels, only the border lets them in.
    config.model.padding = "reflect"
    config.model.ndf = 16
    config.model.d_layers = 3  # stride-2 convolutions of the PatchGAN: 3 = 70×70 patches
    config.model.discriminator = "patchgan"  # patchgan (70×70) | ihc (Table 2, avg-pooled)
    config.model.adversarial_loss = "least_squares"  # | bce_discriminator (IHC)
    config.model.lambda_cycle = 10.0
    config.model.lambda_identity = 0.5
    config.model.pool_size = 50

    # --- Optimiser: Adam 2e-4, β1 0.5, constant then linear decay to 0 -----
    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.learning_rate = 2e-4
    config.optimizer.beta_1 = 0.5
    config.optimizer.constant_epochs = 10
    config.optimizer.decay_epochs = 10

    config.train.epochs = 20  # constant_epochs + decay_epochs
    config.train.batch_size = 4
    config.train.checkpoint_every_steps = 50
    return config
