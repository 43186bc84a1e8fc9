"""HistoGAN at the paper's cervical sizes (HistoGAN paper §4.1, §4.2): epithelium patches of
256 × 128 pixels (height × width), a 3-stage generator (64 × 32, 128 × 64, 256 × 128),
batch 64, 1000 epochs, model selection after epoch 100.

    python -m trainers.histogan --config=configs/histogan_paper_cervical.py \\
        --config.data.root=/path/to/DATA_ROOT --config.workdir=runs/histogan_paper_cervical
    python -m trainers.augment_eval --config=configs/augment_eval.py \\
        --config.histogan_run=runs/histogan_paper_cervical \\
        "--config.sets='data.image_height=256','data.image_size=128'"

`data.root` must be given: a DATA_ROOT (the layout of docs/DATA.md) with the patches and
their classes (the paper's four: Normal, CIN1, CIN2, CIN3) in `labeled/{train,val,test}/`,
split by patient (the paper: 7:1:2). It is empty here only so that the file loads; left
empty, the run trains on phantoms (resized to 256 × 128), a dry run. Meant for GPUs;
everything not set here is configs/histogan.py's.
"""

from kerasg2c.jobs.config_files import load_module

histogan = load_module("histogan.py", relative_to=__file__)


def get_config():
    config = histogan.get_config()
    config.workdir = "runs/histogan_paper_cervical"
    # --- Data (§4.1) --------------------------------------------------------------
    config.data.root = ""  # pass --config.data.root=DATA_ROOT (see the docstring)
    config.data.image_height = 256  # "patches with a unified size of 256 × 128 pixels"
    config.data.image_size = 128  # the width
    config.data.phantoms.size = 256  # only when data.root is empty, for a dry run

    # --- HistoGAN (§4.2.1) -----------------------------------------------------------
    config.histogan.n_stages = 3  # base (4, 2): 64 × 32, then 128 × 64, then 256 × 128
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
    config.train.batch_size = 64  # the cervical set's batch (PCam's is 256)
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
