"""Trains G2C: generated stains + a weight-shared multi-branch classifier.

python -m trainers.g2c --config=configs/g2c.py [--config.variant=PAS_ALL]
"""

from ml_collections import config_flags

from kerasg2c.jobs import g2c_job, launch

_CONFIG = config_flags.DEFINE_config_file("config", "configs/g2c.py", lock_config=True)

if __name__ == "__main__":
    launch.main(g2c_job, _CONFIG)
