"""Trains a top-1 MIL tumour/normal instance classifier on weakly labelled tiles.

python -m trainers.mil --config=configs/mil.py [--config.train.epochs=3]
"""

from ml_collections import config_flags

from kerasg2c.jobs import launch, mil_job

_CONFIG = config_flags.DEFINE_config_file("config", "configs/mil.py", lock_config=True)

if __name__ == "__main__":
    launch.main(mil_job, _CONFIG)
