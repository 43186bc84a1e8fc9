"""HistoGAN with FID model selection and selective synthetic augmentation (HistoGAN paper).

    python -m trainers.histogan --config=configs/histogan.py
    python -m trainers.histogan --config=configs/histogan.py --config.histogan.critic_norm=layer

Sized for the built-in phantoms on a CPU: 64 px images from a 2-stage generator (32 and
64 px), narrow networks. With no `histogan.feature_extractor` it first trains the feature
extractor (`feature_extractor.*`: configs/classifier.py's keys) into
`workdir/feature_extractor/`, then HistoGAN (`n_critic` critic updates per generator
update, WGAN-GP with penalty weight 50, Adam 2e-4), scores every epoch after
`fid_warmup_epochs` by FID on the extractor's features and keeps the epoch of lowest
EMA-smoothed FID, then generates 4·r·N_i images per class, selects r·N_i (MC entropy,
then distance to the class centroid) and writes one DATA_ROOT per arm in
`workdir/augmented/` for `python -m trainers.augment_eval`. Writes samples/ (class ×
sample grids per stage and epoch), fid_curve.png, tsne.png, report.json.
`configs/histogan_paper_pcam.py` has the paper's PatchCamelyon sizes,
`configs/histogan_paper_cervical.py` its cervical ones (256 × 128 patches of a DATA_ROOT of
your own). Where these defaults differ from the paper: docs/METHODS.md §3, "Departures".
"""

import ml_collections

from kerasg2c.jobs.config_files import load_module
from kerasg2c.jobs.shared_config import base_config

classifier = load_module("classifier.py", relative_to=__file__)


def get_config() -> ml_collections.ConfigDict:
    config = base_config()
    config.workdir = "runs/histogan"
    config.data.augment = False  # the GAN learns the data's own colours
    config.data.max_train_patients = 0  # scarce labels: as in configs/classifier.py

    config.histogan = ml_collections.ConfigDict()
    # A classifier run folder (with model.keras) to use as the feature extractor;
    # '' = train the `feature_extractor` stage into workdir/feature_extractor/.
    config.histogan.feature_extractor = ""
    # --- Networks (§3.1.1, §4.2.1) -------------------------------------------
    # image_size (and image_height when set) must be a multiple of 16 · 2^(n_stages − 1)
    config.histogan.n_stages = 2
    config.histogan.noise_dim = 64
    config.histogan.channels = 16
    config.histogan.res_blocks = 1
    config.histogan.minibatch_kernels = 16
    # batch: the paper's critic (conditional BN, BN, minibatch discrimination; couples the
    # batch) | layer | none (projection conditioning).
    config.histogan.critic_norm = "batch"
    # Which batch a critic sees when penalised (the paper says only "WGAN-GP"):
    # interpolates (WGAN-GP's own: the interpolates as a batch of their own, full critic)
    # | joint (in one pass with the update's real and generated images) | per_example
    # (minibatch features zeroed; with critic_norm layer or none, a per-example penalty).
    config.histogan.penalty_batch = "interpolates"
    # --- WGAN-GP (Gulrajani et al. 2017; HistoGAN's penalty weight 50) -----------
    config.histogan.n_critic = 5
    config.histogan.gp_weight = 50.0
    # --- Model selection (§3.1.2): FID on the extractor's pooled features ---------
    config.histogan.fid_warmup_epochs = 10  # epochs before scoring (the paper: 100 of 1000)
    config.histogan.fid_samples = 256  # generated images per score, the same noise each epoch
    config.histogan.ema_alpha = 0.5
    # --- Selective augmentation (§3.2, Algorithm 1) --------------------------------
    config.histogan.ratio = 0.5  # r: r·N_i synthetic images per class
    config.histogan.mc_passes = 5  # K
    config.histogan.mc_dropout = 0.5
    # Where the selection's 4·r·N_i candidates per class come from: generator (the paper:
    # the chosen HistoGAN generator) | held_out (no GAN: real training images of the
    # patients data.max_train_patients leaves out; the selection map's control, with a
    # known share of them from the other classes, kerasg2c/jobs/histogan_pool.py).
    config.histogan.synthetic_source = "generator"
    config.histogan.off_class_share = 0.0  # held_out only: candidates from other classes

    # Adam at a fixed 2e-4 (§4.2.1); β = (0.5, 0.9) is our choice (the paper gives none).
    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.learning_rate = 2e-4
    config.optimizer.beta_1 = 0.5
    config.optimizer.beta_2 = 0.9

    config.train.epochs = 30
    config.train.batch_size = 16  # per critic update; a step reads n_critic × this
    config.train.checkpoint_every_steps = 50

    # The feature extractor stage (a classifier on the same labeled data).
    config.feature_extractor = classifier.get_config()
    # Cross-entropy, as the paper's ResNet34 (§4.3.3: the baseline classifier): the
    # selection ranks by predictive entropy, which focal loss flattens.
    config.feature_extractor.model.loss = "cross_entropy"
    # "Pre-trained with MC dropout" (§1): trained with the dropout 0.5 before its last
    # residual block that the selection's K passes sample (histogan.mc_dropout).
    config.feature_extractor.model.dropout_before_last_block = 0.5
    # An int (every unit) or one count per unit (the paper configs: ResNet34's (3, 4, 6, 3)).
    del config.feature_extractor.model["blocks_per_unit"]
    config.feature_extractor.model.blocks_per_unit = ml_collections.FieldReference(
        3, field_type=object
    )
    return config
