"""Top-1 MIL: a tumour/normal instance classifier from weakly labelled tiles (the IHC
paper's "MIL for Getting Class-Related Information"; Campanella et al. 2019).

    python -m trainers.mil --config=configs/mil.py
    python -m trainers.mil --config=configs/mil.py --config.data.root=/data/tiles

With an empty `data.root` it writes MIL phantoms into `workdir/data`
(`kerasg2c.phantoms.mil_tiles`): 256 × 256 tiles of normal tissue texture, half of them
"tumour" tiles holding one irregular region of larger, darker, denser nuclei of random
grade, size and position (not aligned to the 32-px instance grid; an instance is tumour when
≥ 25 % of its pixels are), lymphocyte clusters in half the tiles of either class and
per-tile stain jitter, with the true instance labels in `instances/<split>.csv` (measured,
seeds 0–2: test tile AUC 0.89, 0.96, 0.88). A DATA_ROOT of your own holds tiles under
`labeled/<split>/<class>/` (two classes, any names; resized to `data.image_size`) and names
the tumour class: dataset.json's "positive_class" or `--config.mil.positive_class=tumour`.
Each epoch scores all 8 × 8 instances of every training tile, trains one pass on each tile's
top-1 instance with the tile's label (cross-entropy, Adam 1e-4, weight decay 1e-4, no
augmentation), and validates (tile score = max instance probability); the best validation
tile AUC is kept as model.keras (served on whole tiles: tile and instance probabilities).
Writes report.json (tile- and instance-level accuracy and AUC on val and test), heatmap.png
(test tiles beside their instance scores), selection/ (each round's top-1 picks) and
best.json. Sized for a CPU: a two-unit stem-block ResNet on 32 px instances.
"""

import ml_collections

from kerasg2c.jobs.shared_config import base_config


def get_config() -> ml_collections.ConfigDict:
    config = base_config()
    config.workdir = "runs/mil"
    config.data.image_size = 256  # tile side (tiles are resized to it)
    config.data.augment = False  # the reference trains without augmentation
    config.data.max_train_patients = 0  # 0 = every training tile (splits.load_splits)
    # MIL phantoms written when data.root is empty (counts are tiles).
    config.data.phantoms.n_train = 200
    config.data.phantoms.n_val = 40
    config.data.phantoms.n_test = 60
    config.data.phantoms.n_reference = 0  # unused by MIL phantoms
    config.data.phantoms.size = 256
    config.data.phantoms.instance_size = 32  # grid cell of the tumour squares

    config.mil = ml_collections.ConfigDict()
    # The tumour class of the two (any names, any folder order); "" = the "positive_class"
    # that the DATA_ROOT's dataset.json declares (the phantoms declare "tumour"). Neither:
    # the job refuses, as folder or list order never picks it.
    config.mil.positive_class = ""
    config.mil.instance_size = 32  # the paper: 224-px patches of 2240-px tiles
    config.mil.validate_every = 1  # epochs between validations (and after the last)
    config.mil.score_batch_size = 256  # instances per global batch when scoring
    config.mil.heatmap_tiles = 4  # test tiles in heatmap.png

    # The instance classifier (the paper: ResNet34): `Classifier`'s branch.
    config.model = ml_collections.ConfigDict()
    config.model.branch = "stem_resnet"
    config.model.widths = (16, 32, 64)
    # An int (every unit) or one count per unit, e.g. --config.model.blocks_per_unit=(3,4,6,3);
    # typed `object` so that the CLI and configs/mil_paper.py may give either.
    config.model.blocks_per_unit = ml_collections.FieldReference(1, field_type=object)
    config.model.stem_width = 16

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.learning_rate = 1e-4
    config.optimizer.weight_decay = 1e-4

    config.train.epochs = 20
    config.train.batch_size = 32
    config.train.checkpoint_every_steps = 50
    return config
