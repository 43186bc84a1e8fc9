"""The cell pipeline at the paper's settings (Hu et al. §III-B, §IV-B, §IV-E): Reinhard to
the paper's lαβ statistics, Macenko (SDA magnitude under 16 left out, 1st/99th angle
percentiles), threshold 120, objects under 200 px removed, thin protrusions removed, a 7×7
opening, 32×32 crops; an InfoWGAN-GP trained as on Dataset C (`infowgan_paper_c.py`:
5 categories, 64 noise variables) on the segmentation output of the training tiles;
4-fold cross-validation of k-means and a linear SVM on the cell proportions (Table IV).

    python -m trainers.cells --config=configs/cells_paper.py --config.data.root=TILES
"""

import ml_collections

from kerasg2c.jobs.config_files import load_module

cells = load_module("cells.py", relative_to=__file__)
paper_c = load_module("infowgan_paper_c.py", relative_to=__file__)


def get_config() -> ml_collections.ConfigDict:
    config = cells.get_config()
    config.workdir = "runs/cells_paper"
    # §IV-B: "the mean value of the standard image in three channels is [8.98 ± 0.64,
    # 0.08 ± 0.11, 0.02 ± 0.03]" (HistomicsTK's lαβ).
    config.cells.reinhard_mean = (8.98, 0.08, 0.02)
    config.cells.reinhard_std = (0.64, 0.11, 0.03)
    config.cells.min_magnitude = 16.0
    config.cells.angle_percentile = 1.0
    config.cells.threshold = 120
    config.cells.min_area = 200
    config.cells.protrusion_width = 5
    config.cells.opening_size = 7
    config.cells.cv_folds = 4
    config.cells.stage_cells = "tiles"  # §IV-E: the GAN trains on the tiles' crops
    config.infogan_stage = paper_c.get_config()
    return config
