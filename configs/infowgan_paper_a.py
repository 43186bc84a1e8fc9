"""InfoWGAN-GP at the paper's settings for its Dataset A (Hu et al. §IV-A/B): 1,995 cells
of eleven healthy bone-marrow images (Kainz et al.), Tables I and III.

    python -m trainers.infowgan --config=configs/infowgan_paper_a.py --config.data.root=DATA_ROOT

Every key the paper states (§IV-B): Adam (α = 1e-4, β = (0.5, 0.9)), batch 64, λ_GP = 10,
λ_info = 1, five critic updates per generator and Q update, the training set rotated by
90/180/270° and ten epochs of it (here 40 passes of the cells with a random rotation each:
the same number of critic batches), a 5-dimensional categorical c and 32 Gaussian z.
Residual width 128 is the authors' released code's (the paper names none). Dataset B
(`infogan_paper_b.py`) has the same keys, Dataset C (`infogan_paper_c.py`) 64 noise
variables. The paper's "l = 2 × 10⁻⁴" beside Adam's settings is not explained; no key
reads it (docs/METHODS.md §4). With an empty data.root it runs on the cell phantoms.
"""

import ml_collections

from kerasg2c.jobs.config_files import load_module

infogan = load_module("infowgan.py", relative_to=__file__)


def get_config() -> ml_collections.ConfigDict:
    config = infogan.get_config()
    config.workdir = "runs/infogan_paper_a"
    # Table I's split of Dataset A: 1,596 cells to train on, 399 to test.
    config.data.phantoms.n_train = 1596
    config.data.phantoms.n_test = 399
    config.infogan.categories = 5
    config.infogan.noise_dim = 32
    config.infogan.channels = 128
    config.infogan.n_critic = 5
    config.infogan.lambda_gp = 10.0
    config.infogan.lambda_info = 1.0
    config.infogan.rotate = True
    config.optimizer.learning_rate = 1e-4
    config.optimizer.beta_1 = 0.5
    config.optimizer.beta_2 = 0.9
    config.optimizer.info_learning_rate = 0.0  # the same Adam settings for Q
    config.infogan.select = "last"  # the weights at the end of training
    config.train.batch_size = 64
    config.train.epochs = 40  # 10 epochs of the set and its three rotations
    config.train.steps_per_epoch = 0  # one pass over the cells per epoch
    return config
