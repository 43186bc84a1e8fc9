"""InfoWGAN-GP at the paper's settings for its Dataset C (Hu et al. §IV-A/B): Datasets A
and B together (about 15,000 cells of 40 images), Table III and, through
`configs/cells_paper.py`, the image-level classification of Table IV.

    python -m trainers.infowgan --config=configs/infowgan_paper_c.py --config.data.root=DATA_ROOT

The keys of `infowgan_paper_a.py` with 64 Gaussian noise variables instead of 32.
"""

import ml_collections

from kerasg2c.jobs.config_files import load_module

paper_a = load_module("infowgan_paper_a.py", relative_to=__file__)


def get_config() -> ml_collections.ConfigDict:
    config = paper_a.get_config()
    config.workdir = "runs/infogan_paper_c"
    config.data.phantoms.n_train = 15000
    config.data.phantoms.n_test = 1995  # Dataset A's labelled cells score C's model (§IV-E)
    config.infogan.noise_dim = 64
    return config
