"""Trains one CycleGAN per target stain (the G2C generator initialisation).

python -m trainers.cyclegan --config=configs/cyclegan.py [--config.train.epochs=3]
"""

from ml_collections import config_flags

from kerasg2c.jobs import cyclegan_job, launch

_CONFIG = config_flags.DEFINE_config_file("config", "configs/cyclegan.py", lock_config=True)

if __name__ == "__main__":
    launch.main(cyclegan_job, _CONFIG)
