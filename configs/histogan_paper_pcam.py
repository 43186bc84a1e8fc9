"""HistoGAN at the paper's PatchCamelyon sizes (HistoGAN paper §4.1, §4.2): PCam from
TensorFlow Datasets, 96 × 96 patches, a 2-stage generator (48 and 96 px), trained on a
random 10 % of the training set, batch 256, 1000 epochs, model selection after epoch 100.

    tfds build patch_camelyon --data_dir=DIR   # once, on a machine with internet; copy DIR
    python -m trainers.histogan --config=configs/histogan_paper_pcam.py \\
        --config.data.tfds_data_dir=DIR --config.workdir=runs/histogan_paper_pcam
    python -m trainers.augment_eval --config=configs/augment_eval.py \\
        --config.histogan_run=runs/histogan_paper_pcam --config.sets=data.image_size=96

Nothing is downloaded at run time: PCam must already be prepared in `data.tfds_data_dir`
(TFDS's default data_dir when empty). The job writes the 32,768 training examples it used
and the whole validation and test splits as PNGs into `workdir/tfds_data/` (about 100,000
files), links them into the augmented DATA_ROOTs, and `trainers.augment_eval` trains its
baseline arms on that folder. Meant for GPUs; everything not set here is configs/histogan.py's.
"""

from kerasg2c.jobs.config_files import load_module

histogan = load_module("histogan.py", relative_to=__file__)


def get_config():
    config = histogan.get_config()
    config.workdir = "runs/histogan_paper_pcam"
    # --- Data (§4.1) --------------------------------------------------------------
    config.data.tfds = "patch_camelyon"
    config.data.image_size = 96  # PCam's own size
    config.data.phantoms.size = 96  # only when data.tfds is emptied, for a dry run
    # "randomly selected 10% of the training set, which has 32,768 patches": with data.tfds
    # every example is its own patient, so these are 32,768 examples drawn with the seed.
    # (32,768 is 10 % of all 327,680 PCam patches; 10 % of the 262,144 training ones would
    # be 26,214. We follow the count the paper states.)
    config.data.max_train_patients = 32_768

    # --- HistoGAN (§4.2.1) -----------------------------------------------------------
    config.histogan.n_stages = 2  # base (3, 3): stage 1 makes 48 px, stage 2 96 px
    # The paper gives no widths (noise_dim, channels, res_blocks, minibatch_kernels):
    # configs/histogan.py's (CPU-sized) values are kept; widen them with --config flags.
    # n_critic, gp_weight (50), critic_norm (batch: the paper's critic), penalty_batch,
    # ema_alpha (0.5), ratio (r = 0.5), mc_passes (K = 5) and mc_dropout (0.5) are
    # configs/histogan.py's (the paper's, or where it is silent, our choice: docs/METHODS.md).
    config.histogan.fid_warmup_epochs = 100  # "saved after the 100th epoch"
    # The paper does not say how many images an FID takes; more than the extractor's 512
    # pooled features below, so that the generated images' covariance is not singular.
    config.histogan.fid_samples = 1024
    config.train.epochs = 1000
    config.train.batch_size = 256  # PCam's batch (the cervical set's is 64)
    # Adam at a fixed 2e-4 as in configs/histogan.py (β: ours, the paper gives none).

    # --- Feature extractor (§3.1.2, §4.2.2): a ResNet34 in the paper -----------------
    # Its data keys are copied from `data` by the job. ResNet34's widths and residual
    # blocks per unit (3, 4, 6, 3); our stem block stands for its 7×7 conv and max-pool.
    # Cross-entropy (configs/histogan.py's), dropout 0.5 before the last residual block at
    # scoring, K = 5 passes. Its optimiser, epochs and batch are configs/classifier.py's:
    # the paper does not give the classifier's.
    fe = config.feature_extractor
    fe.model.widths = (64, 128, 256, 512)
    fe.model.blocks_per_unit = (3, 4, 6, 3)
    fe.model.stem_width = 64
    return config
