"""InfoWGAN-GP: unsupervised cell-level representation (Hu et al., IEEE JBHI 2019).

    python -m trainers.infowgan --config=configs/infowgan.py
    python -m trainers.infowgan --config=configs/infowgan.py --config.data.root=/data/cells

With an empty `data.root` it writes bone-marrow-like cell phantoms (five types, 32 × 32
crops; `kerasg2c.phantoms.cells.write_cells`, sized by `data.phantoms.*`) into
`workdir/data`. A DATA_ROOT of your own holds single-cell crops under
`labeled/<split>/<type>/`: training reads `labeled/train` without its labels; the types
are used only to score the clustering. Trains InfoWGAN-GP (`n_critic` critic updates,
one generator and one Q update per step; Adam 1e-4, β = (0.5, 0.9), λ_GP = 10, λ_info =
1) and then, on the test split, clusters cells by argmax Q and scores purity, entropy and
F-score against the true types next to k-means on pixels and on HOG (Table III), and a
linear SVM on the critic's features (Table I). Writes samples/ (per epoch),
generated_cells.png (one row per category c, the same z along each column),
model.keras (Q, what `serving.export` serves), generators/generator.keras (G(c, z)) and
report.json. At the end of every epoch (40 generator updates) the log and history.json
hold the collapse diagnostic (categories Q uses on real cells, how well Q recovers c from
generated cells, purity), and the weights of the best point by a label-free criterion are
the ones evaluated and saved (`infogan.select`).

The defaults are the recipe and width studies' best (docs/RESULTS.md): one critic update
per generator and Q update (the paper's 5), width 64 (the paper's code's 128), batch 32
(the paper's 64), 1,000 generator updates (25 epochs of 40 steps; the paper's 40 passes),
and Q with the critic's weights averaged over the last 5 evaluation points (the paper's:
the weights at the end). About 8 minutes alone on 2 CPU cores. The paper's settings are
configs/infowgan_paper_a.py (b, c: its other datasets), every difference in
docs/METHODS.md §4. `--config.infogan.k_sweep="(4,5,6)"` trains once per k and writes
k_sweep.csv / k_sweep.png (§IV-D, Table II).
Cells in a type folder named `unknown` (no known type) are trained on but never scored.
"""

import ml_collections

from kerasg2c.jobs.shared_config import base_config


def get_config() -> ml_collections.ConfigDict:
    config = base_config()
    config.workdir = "runs/infogan"
    config.data.image_size = 32  # the paper's cell crops
    config.data.augment = False  # the model rotates real cells by k · 90° itself
    config.data.max_train_patients = 0  # 0 = every training cell (splits.load_splits)
    # Cell phantoms written when data.root is empty (counts are cells).
    config.data.phantoms.n_train = 2000
    config.data.phantoms.n_val = 200
    config.data.phantoms.n_test = 500
    config.data.phantoms.n_reference = 0  # unused by cell phantoms
    config.data.phantoms.size = 32  # crop side
    # Nuisance level of the cells (kerasg2c.phantoms.cell_nuisance): 0 = none, the control
    # (centred single cells on white). Level L shifts the centre up to 3·L px, adds a
    # neighbour's fragment at the border with probability 0.4·L, and scales stain
    # intensity by exp(N(0, 0.15·L)) and cell size by exp(N(0, 0.08·L)): 1 looks like
    # imperfect segmented crops, 2 clearly harder (a fragment in 80 % of crops).
    config.data.phantoms.nuisance = 0.0

    config.infogan = ml_collections.ConfigDict()
    config.infogan.categories = 5  # k: values of the categorical code c (the clusters)
    # Choosing k (§IV-D, Table II): e.g. (4, 5, 6) trains once per k into workdir/k<k>/ and
    # writes k_sweep.csv / k_sweep.png (purity, entropy against k); () = one run at k.
    config.infogan.k_sweep = ()
    config.infogan.noise_dim = 32
    # Width of every residual block (the paper's code: 128); 64 beat 32 by 0.095 in Q's
    # purity at 1,000 updates (docs/RESULTS.md) at about 2.5 times the time.
    config.infogan.channels = 64
    # Critic updates per generator and Q update: 1 (the paper's 5) learned the types as well
    # at width 32 and 1,000 generator updates for 2.6 times less time (docs/RESULTS.md); at
    # width 64, 5 reached pixel k-means' purity on two seeds (0.815) at four times the time.
    config.infogan.n_critic = 1
    config.infogan.lambda_gp = 10.0
    config.infogan.lambda_info = 1.0
    config.infogan.rotate = True  # 0/90/180/270° rotation of the real cells (§IV-A)
    # Which weights are evaluated and saved (kerasg2c/jobs/infowgan_monitor.py): "average"
    # (the critic's, so Q's, weights averaged over the last average_points evaluation
    # points, 200 generator updates at 5: the best label-free choice in docs/RESULTS.md),
    # "last" (the paper's), or the evaluation point (an epoch's end) best by a label-free
    # criterion: "in_use_recovery" (most categories in use on real cells, then Q's
    # recovery of c from generated cells), "q_recovery" or "q_confidence". With
    # average_points > 0 every point also logs the averaged Q's diagnostic; 0 = none.
    config.infogan.select = "average"
    config.infogan.average_points = 5
    config.infogan.recovery_cells = 500  # generated cells behind q_recovery, each point
    config.infogan.svm_c = 1.0  # C of the linear SVM on critic features
    config.infogan.grid_columns = 8  # noise vectors (columns) of generated_cells.png

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.learning_rate = 1e-4
    config.optimizer.beta_1 = 0.5
    config.optimizer.beta_2 = 0.9
    # Q's Adam (L_Q: generator, trunk, Q head); 0 = optimizer.learning_rate (the paper's).
    config.optimizer.info_learning_rate = 0.0

    # 25 epochs of 40 steps: 1,000 generator updates, an evaluation point every 40 (the
    # paper's: 40 passes over the cells, train.steps_per_epoch = 0 = one pass per epoch).
    config.train.epochs = 25
    config.train.steps_per_epoch = 40
    # Per critic update; a step reads n_critic × this. The paper's 64 (infowgan_paper_*.py).
    config.train.batch_size = 32
    config.train.checkpoint_every_steps = 50
    return config
