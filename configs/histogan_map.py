"""The HistoGAN selection map's stage runs (`python -m trainers.histogan_map`; docs/RESULTS.md):
configs/histogan.py at 32 px with held-out real images as the selection's candidates
(`histogan.synthetic_source=held_out`), so no GAN is trained and the map measures the
selection itself. The map varies `histogan.off_class_share` (0 is its control) and
`data.max_train_patients` (the labelled patients; the rest are the candidates). The arms'
classifier is configs/classifier.py at the same size.

    python -m trainers.histogan_map --out=runs/histogan_map
"""

from kerasg2c.jobs.config_files import load_module

histogan = load_module("histogan.py", relative_to=__file__)


def get_config():
    config = histogan.get_config()
    config.workdir = "runs/histogan_map"
    config.data.image_size = 32  # the CPU budget (configs/histogan.py: 64)
    config.data.phantoms.size = 32
    config.data.max_train_patients = 10  # the map's budget axis sets it
    config.histogan.synthetic_source = "held_out"
    return config
