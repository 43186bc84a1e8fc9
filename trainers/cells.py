"""Segments tiles into cells, clusters them by a trained InfoWGAN-GP and classifies the
tiles from their cell proportions.

python -m trainers.cells --config=configs/cells.py [--config.cells.infogan_run=runs/infogan]
"""

from ml_collections import config_flags

from kerasg2c.jobs import cells_job, launch

_CONFIG = config_flags.DEFINE_config_file("config", "configs/cells.py", lock_config=True)

if __name__ == "__main__":
    launch.main(cells_job, _CONFIG)
