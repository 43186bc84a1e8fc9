"""Top-1 MIL as the IHC paper trains it (MIL for Getting Class-Related Information;
Training Configuration), for a GPU: a ResNet34-deep instance classifier (four units of
3, 4, 6, 3 residual blocks, 64–512 channels, a 64-wide stem) on 224-px instances of
2240-px tiles (10 × 10 instances per tile), cross-entropy, Adam at 1e-4 (no weight decay:
the paper names plain Adam) for 100 epochs, the epoch best on validation kept (tile AUC,
validated every epoch).

    python -m trainers.mil --config=configs/mil_paper.py \
        --config.data.root=/data/tiles --config.workdir=runs/mil_paper

Tiles stream from their files each round (`kerasg2c.mil.instances`), none held in
memory. With an empty `data.root` the phantoms are written at 2240 px (224-px tumour
squares), which takes a while and much disk.
"""

from kerasg2c.jobs.config_files import load_module

mil = load_module("mil.py", relative_to=__file__)


def get_config():
    config = mil.get_config()
    config.workdir = "runs/mil_paper"
    config.data.image_size = 2240
    config.data.phantoms.size = 2240
    config.mil.instance_size = 224
    config.data.phantoms.instance_size = 224
    config.model.widths = (64, 128, 256, 512)
    config.model.blocks_per_unit = (3, 4, 6, 3)
    config.model.stem_width = 64
    config.optimizer.learning_rate = 1e-4
    config.optimizer.weight_decay = 0.0
    config.train.epochs = 100
    config.mil.validate_every = 1  # every epoch saved and validated; the best one kept
    return config
