"""Trains HistoGAN, selects its generator by FID and writes the augmented DATA_ROOTs.

python -m trainers.histogan --config=configs/histogan.py [--config.train.epochs=3]
"""

from ml_collections import config_flags

from kerasg2c.jobs import histogan_job, launch

_CONFIG = config_flags.DEFINE_config_file("config", "configs/histogan.py", lock_config=True)

if __name__ == "__main__":
    launch.main(histogan_job, _CONFIG)
