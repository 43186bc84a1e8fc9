"""Trains InfoWGAN-GP on single cells and scores its clustering of them.

python -m trainers.infogan --config=configs/infogan.py [--config.train.epochs=3]
"""

from ml_collections import config_flags

from kerasg2c.jobs import infogan_job, launch

_CONFIG = config_flags.DEFINE_config_file("config", "configs/infogan.py", lock_config=True)

if __name__ == "__main__":
    launch.main(infogan_job, _CONFIG)
