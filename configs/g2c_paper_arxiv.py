"""G2C at the arXiv paper's settings (G2C, arXiv version, §3.2, §3.3, §4.1): PAS_ALL (three
generated stains, no attention), generators of 9 residual blocks as in the reference
CycleGAN (3×3 deconvolutions), 224 px inputs in [0, 1] with flips and brightness /
saturation jitter, SGD momentum 0.5 at 0.01 ÷10 every 5 epochs for 30 epochs, the
generators frozen for the first 5, focal loss; the two tasks s-vs-noa then ss-vs-gs.

    python -m trainers.g2c --config=configs/g2c_paper_arxiv.py \
        --config.data.root=/data/glomeruli --config.workdir=runs/g2c_paper_arxiv

Otherwise configs/g2c_paper_aaai.py (the classifier's unstated widths, batch and γ alike).
"""

from kerasg2c.jobs.config_files import load_module

aaai = load_module("g2c_paper_aaai.py", relative_to=__file__)


def get_config():
    config = aaai.get_config()
    config.workdir = "runs/g2c_paper_arxiv"
    config.variant = "PAS_ALL"
    config.data.augment = True
    config.cyclegan_stage.model.n_blocks = 9
    config.cyclegan_stage.model.upsampling = "deconv3"
    return config
