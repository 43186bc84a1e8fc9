"""The G2C mechanism map's runs (`python -m trainers.g2c_map`; docs/RESULTS.md): configs/g2c.py
at 32 px, so that the whole grid runs on two CPU cores. Everything else, schedules and
generator stages included, is configs/g2c.py's; a paper-size map takes
`--config=configs/g2c.py` and the papers' epochs as --set overrides on a GPU.

    python -m trainers.g2c_map --out=runs/g2c_map
"""

from kerasg2c.jobs.config_files import load_module

g2c = load_module("g2c.py", relative_to=__file__)


def get_config():
    config = g2c.get_config()
    config.workdir = "runs/g2c_map"
    config.data.image_size = 32  # the CPU budget (configs/g2c.py: 64)
    config.data.phantoms.size = 32
    return config
