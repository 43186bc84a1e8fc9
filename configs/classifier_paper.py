"""The classifier at the G2C papers' sizes (arXiv G2C, §3.2): 224 px inputs in [0, 1],
four down-sampling units of three residual blocks (64–512 channels), SGD
momentum 0.5, lr 0.01 divided by 10 every 5 epochs, 30 epochs, focal loss.

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
    return config
