"""Trains InfoWGAN-GP on single cells and scores its clustering of them.

python -m trainers.infowgan --config=configs/infowgan.py [--config.train.epochs=3]
"""

from ml_collections import config_flags

from kerasg2c.jobs import infowgan_job, launch

_CONFIG = config_flags.DEFINE_config_file("config", "configs/infowgan.py", lock_config=True)

if __name__ == "__main__":
    launch.main(infowgan_job, _CONFIG)
