"""Cell proportions per tile from an InfoWGAN-GP's clusters, and image-level
classification from them (Hu et al. §III, §IV-E).

    python -m trainers.cells --config=configs/cells.py
    python -m trainers.cells --config=configs/cells.py --config.cells.infogan_run=runs/infogan

With an empty `data.root` it writes H&E tile phantoms (normal / abnormal by blast share,
with instance masks and true type counts; `kerasg2c.phantoms.cells.write_tiles`,
sized by `data.phantoms.*`) into `workdir/data`. With no `cells.infogan_run` it first
trains the InfoWGAN-GP stage (`infogan_stage.*`: configs/infowgan.py's keys) into
`workdir/infogan/`, by default on the nucleus crops of the training tiles
(`cells.stage_cells`, the paper's §IV-E). Then every tile is segmented
(`pathology.nuclei.segment_tile`), each nucleus crop clustered by argmax Q, each tile
described by its cluster proportions, and normal vs abnormal classified from them by
k-means and a linear SVM under 4-fold cross-validation; the segmentation is scored
against the masks. Writes proportions.csv, proportions_pca.png and report.json.
"""

import ml_collections

from kerasg2c.jobs.config_files import load_module
from kerasg2c.jobs.shared_config import base_config

infogan = load_module("infowgan.py", relative_to=__file__)


def get_config() -> ml_collections.ConfigDict:
    config = base_config()
    config.workdir = "runs/cells"
    # Tile phantoms written when data.root is empty (counts are tiles, size their side).
    config.data.phantoms.n_train = 40
    config.data.phantoms.n_val = 12
    config.data.phantoms.n_test = 20
    config.data.phantoms.n_reference = 0  # unused by tile phantoms
    config.data.phantoms.size = 256

    config.cells = ml_collections.ConfigDict()
    # An infogan run folder (with model.keras); '' = train `infogan_stage` into
    # workdir/infogan/ first.
    config.cells.infogan_run = ""
    # What that stage trains on: "tiles" (the paper's, §IV-E: "the segmentation output of
    # the training set"): the nucleus crops this job segments from the tiles, written to
    # workdir/infogan/data as labeled/<split>/<type>/ (train = the training tiles' crops;
    # a crop's type from the masks where known, else 'unknown', trained on but not
    # scored; a user's tiles without types: the stage's clustering is not scored), or
    # "own": the stage's own data (infogan_stage.data.root, cell phantoms when empty).
    config.cells.stage_cells = "tiles"
    config.cells.splits = "train,val,test"  # the tiles' splits to use, pooled
    # Reinhard colour normalisation (§III-B.1) of every tile, in HistomicsTK's lαβ space,
    # to these statistics (the paper's: mean (8.98, 0.08, 0.02), sd (0.64, 0.11, 0.03);
    # configs/cells_paper.py) or to this image's; () and '' = off (the phantoms share one
    # palette, and the paper's spread clips their pale pixels to white).
    config.cells.reinhard_mean = ()
    config.cells.reinhard_std = ()
    config.cells.reinhard_target = ""
    # Macenko (§IV-B): pixels whose stain-darkness vector (SDA = OD · 255 / ln 255) is
    # shorter than min_magnitude are left out; stain vectors at these angle percentiles.
    config.cells.min_magnitude = 16.0
    config.cells.angle_percentile = 1.0  # 1st and 99th
    # Nucleus segmentation (pathology.nuclei.segment_nuclei, §IV-B in order):
    # haematoxylin-image threshold, smallest nucleus in pixels, thin protrusions (parts
    # narrower than this many pixels) removed, then a square opening of this side.
    config.cells.threshold = 120
    config.cells.min_area = 200
    config.cells.protrusion_width = 5
    config.cells.opening_size = 7
    # Image-level classification (§IV-E): stratified folds and the linear SVM's C.
    config.cells.cv_folds = 4
    config.cells.svm_c = 1.0

    # The InfoWGAN-GP stage (its data.* keys apply with cells.stage_cells = "own").
    config.infogan_stage = infogan.get_config()
    return config
