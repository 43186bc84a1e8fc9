"""CycleGAN at the reference sizes (G2C arXiv paper, §Approach): ResNet-9 generators at
width 64 (11,378,179 parameters each), 70×70 PatchGAN, 256 px, batch 1, Adam 2e-4
β1 0.5 for 100 epochs then linear decay over 100 more, no identity warm start.

    python -m trainers.cyclegan --config=configs/cyclegan_paper.py \
        --config.data.root=/data/glomeruli --config.workdir=runs/cyclegan_paper

A GPU job: one step of these networks takes about 20 s on a 2-core CPU.
"""

from kerasg2c.jobs.config_files import load_module

cyclegan = load_module("cyclegan.py", relative_to=__file__)


def get_config():
    config = cyclegan.get_config()
    config.workdir = "runs/cyclegan_paper"
    config.data.image_size = 256
    config.data.phantoms.size = 256
    config.model.ngf = 64
    config.model.ndf = 64
    config.model.n_blocks = 9
    config.model.upsampling = "deconv3"
    config.optimizer.constant_epochs = 100
    config.optimizer.decay_epochs = 100
    config.train.epochs = 200
    config.train.batch_size = 1
    config.cyclegan.identity_warmup_epochs = 0  # the reference has no identity warm start
    return config
