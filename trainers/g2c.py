"""Trains G2C: generated stains + a weight-shared multi-branch classifier.

python -m trainers.g2c --config=configs/g2c.py [--config.variant=PAS_ALL]
"""

from ml_collections import config_flags

from kerasg2c.runs import cli, g2c

_CONFIG = config_flags.DEFINE_config_file("config", "configs/g2c.py", lock_config=True)

if __name__ == "__main__":
    cli.main(g2c.train_and_evaluate, _CONFIG)
