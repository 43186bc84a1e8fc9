"""Trains one generator per target stain WITH the pairs (L1 to the true stain).

python -m trainers.paired_translator --config=configs/paired_translator.py [--config.train.epochs=3]
"""

from ml_collections import config_flags

from kerasg2c.jobs import launch, paired_translator_job

_CONFIG = config_flags.DEFINE_config_file(
    "config", "configs/paired_translator.py", lock_config=True
)

if __name__ == "__main__":
    launch.main(paired_translator_job, _CONFIG)
