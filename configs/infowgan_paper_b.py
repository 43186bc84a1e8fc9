"""InfoWGAN-GP at the paper's settings for its Dataset B (Hu et al. §IV-A/B): about 12,000
cells of 29 bone-marrow images of patients with blood disease; 600 labelled cells (200
myeloblasts, monocytes, lymphocytes each) score the clustering (Table III).

    python -m trainers.infowgan --config=configs/infowgan_paper_b.py --config.data.root=DATA_ROOT

The keys of `infowgan_paper_a.py` (the same noise: c of 5 values and 32 Gaussian z).
"""

import ml_collections

from kerasg2c.jobs.config_files import load_module

paper_a = load_module("infowgan_paper_a.py", relative_to=__file__)


def get_config() -> ml_collections.ConfigDict:
    config = paper_a.get_config()
    config.workdir = "runs/infogan_paper_b"
    config.data.phantoms.n_train = 12000
    config.data.phantoms.n_test = 600
    return config
