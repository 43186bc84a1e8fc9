"""G2C at the AAAI paper's settings (G2C, AAAI version: §Formulation, §Optimization,
§Experimental Results): PAS_ALL+ (three generated stains, cross-stain attention after every
residual block), generators of 6 residual blocks with 4×4 deconvolutions, 224 px inputs in
[0, 1], SGD momentum 0.5 at 0.01 for classifier and generators alike, ÷10 every 5 epochs,
30 epochs, the generators frozen for the first 5, focal loss; the two tasks s-vs-noa then
ss-vs-gs; no data augmentation for the multi-stain models (§Discussions › Comparison with
data augmentation). The CycleGAN stage that initialises the generators follows the
reference implementation (ngf 64, 70×70 PatchGAN, batch 1, 100 + 100 epochs, 100
unlabeled patches per stain).

    python -m trainers.g2c --config=configs/g2c_paper_aaai.py \
        --config.data.root=/data/glomeruli --config.workdir=runs/g2c_paper_aaai

The classifier's widths are not in the paper: a ResNet's (stem 64; units of 64, 128, 256,
512 channels, three residual blocks each). Nor are the batch size and the focal γ: 32 and 2.
A GPU job. docs/METHODS.md §2 lists where configs/g2c.py departs from this.
"""

from kerasg2c.jobs.config_files import load_module

g2c = load_module("g2c.py", relative_to=__file__)
cyclegan_paper = load_module("cyclegan_paper.py", relative_to=__file__)


def get_config():
    config = g2c.get_config()
    config.workdir = "runs/g2c_paper_aaai"
    config.variant = "PAS_ALL_PLUS"
    config.hierarchy = "s_vs_noa,ss_vs_gs"
    config.data.image_size = 224
    config.data.phantoms.size = 224
    config.data.augment = False
    config.model.widths = (64, 128, 256, 512)
    config.model.stem_width = 64
    config.model.attention_reduction = 16  # not stated; SE-Net's, which the block follows
    config.optimizer.learning_rate = 0.01
    config.optimizer.decay_every_epochs = 5
    config.train.epochs = 30
    config.train.precise_bn_batches = 0
    config.g2c.generator_learning_rate = 0.01
    config.g2c.freeze_generators_epochs = 5

    stage = cyclegan_paper.get_config()
    stage.workdir = config.cyclegan_stage.workdir
    stage.data.image_size = stage.data.phantoms.size = 224  # the run's size (stage_config)
    stage.model.n_blocks = 6
    stage.model.upsampling = "deconv4"
    stage.cyclegan.identity_warmup_epochs = 0
    config.cyclegan_stage = stage
    return config
