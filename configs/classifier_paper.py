"""The PAS_ONLY baseline of the G2C papers (M = 0: the classifier branch alone; arXiv
§3.2 and §4.1, AAAI §Experimental Results) at their sizes, as in configs/g2c_paper_aaai.py:
224 px inputs in [0, 1] with flips and colour jitter, four down-sampling units of three
residual blocks (64–512 channels: a ResNet's, the papers give none), SGD momentum 0.5, lr
0.01 divided by 10 every 5 epochs, 30 epochs, focal loss; the two tasks s-vs-noa then
ss-vs-gs.

    python -m trainers.classifier --config=configs/classifier_paper.py \
        --config.data.root=/data/glomeruli --config.workdir=runs/classifier_paper

Meant for GPUs (a step of batch 32 takes seconds on a 2-core CPU).
"""

from kerasg2c.jobs.config_files import load_module

classifier = load_module("classifier.py", relative_to=__file__)


def get_config():
    config = classifier.get_config()
    config.workdir = "runs/classifier_paper"
    config.data.image_size = 224
    config.data.phantoms.size = 224
    config.model.widths = (64, 128, 256, 512)
    config.model.stem_width = 64
    config.optimizer.learning_rate = 0.01
    config.optimizer.decay_every_epochs = 5
    config.train.epochs = 30
    config.train.precise_bn_batches = 0
    config.hierarchy = "s_vs_noa,ss_vs_gs"
    return config
