"""Trains the stem-block ResNet patch classifier.

python -m trainers.classifier --config=configs/classifier.py [--config.train.epochs=3]
"""

from ml_collections import config_flags

from kerasg2c.jobs import classifier_job, launch

_CONFIG = config_flags.DEFINE_config_file("config", "configs/classifier.py", lock_config=True)

if __name__ == "__main__":
    launch.main(classifier_job, _CONFIG)
