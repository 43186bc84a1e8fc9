"""The config keys every job shares, and the checks that refuse bad values up front.

Users and scripts rely on these names across trainers:

  workdir                 checkpoints, logs, samples, report.json, exports
  seed                    one seed for weights, data order and augmentation
  data.root               a DATA_ROOT (the layout of docs/DATA.md); '' = phantoms in workdir/data
  data.tfds               a TensorFlow Datasets name used instead of data.root ('' = off)
  data.image_size         every image is resized to this size (its width when
                          data.image_height is set)
  data.image_height       0 = square images (image_size × image_size); else images are
                          resized to image_height × image_size (height × width), e.g.
                          256 × 128 for HistoGAN's cervical patches. Jobs read both through
                          `image_shape`; only the classifier and HistoGAN jobs accept it
  data.strict             True: the first unreadable or too large image stops the run, naming it
  data.max_pixels         images whose header gives more pixels (width × height) are not
                          decoded but skipped like unreadable ones (decompression bombs)
  train.epochs            number of epochs
  train.batch_size        GLOBAL batch size (split across replicas and workers)
  train.steps_per_epoch   0 = one pass over the training split (a smaller one is repeated)
  train.strategy          auto | default | mirrored | multi_worker
  train.jit_compile       XLA-compile the replica step
  train.mixed_precision   '' | mixed_float16 | mixed_bfloat16 | auto (runtime.auto_precision)

Configs are Python files loaded by path (`config_files.load`); each job checks its config
with `check_shared` plus its own keys before any data is read or written.
"""

import os

import ml_collections

from kerasg2c.errors import UserError
from kerasg2c.training import runtime


def base_config() -> ml_collections.ConfigDict:
    """Returns the shared keys with their defaults; configs add `model`, `optimizer`."""
    config = ml_collections.ConfigDict()
    config.workdir = "runs/default"
    config.seed = 0

    # --- Data ---------------------------------------------------------------
    config.data = ml_collections.ConfigDict()
    config.data.root = ""
    config.data.tfds = ""
    config.data.tfds_data_dir = ""
    config.data.image_size = 64
    config.data.image_height = 0  # 0 = square; else height × image_size (width)
    config.data.strict = False
    config.data.max_pixels = 64 * 1024 * 1024  # generous for patches and tiles
    config.data.augment = True
    config.data.cache_budget_gb = 4.0  # decoded images are kept in memory when they fit
    # Phantoms written when data.root and data.tfds are empty.
    config.data.phantoms = ml_collections.ConfigDict()
    config.data.phantoms.n_train = 300
    config.data.phantoms.n_val = 60
    config.data.phantoms.n_test = 60
    config.data.phantoms.n_reference = 100
    config.data.phantoms.size = 64
    # Class overlap in [0, 1]: 0 = the easy phantoms (separable on PAS alone); higher values
    # shrink/fade sclerosis, add noa matrix expansion, more noise/blur and a weaker PAS matrix.
    config.data.phantoms.difficulty = 0.0
    # How faintly PAS shows the matrix (sclerosis) that the other stains show plainly: the
    # fraction of the way PAS's matrix absorption moves towards its cytoplasm's, in [0, 1]
    # (0 = in PAS's own colour, the control of the G2C map); -1 = 0.45 × difficulty.
    config.data.phantoms.pas_matrix_fade = -1.0

    # --- Training loop ------------------------------------------------------
    config.train = ml_collections.ConfigDict()
    config.train.epochs = 10
    config.train.batch_size = 32
    config.train.steps_per_epoch = 0
    config.train.strategy = "auto"
    config.train.num_cpu_replicas = 0  # >1: split the CPU into N virtual devices (tests)
    config.train.jit_compile = False
    config.train.mixed_precision = ""
    config.train.deterministic = False  # op determinism: bitwise-reproducible resume on CPU
    config.train.checkpoint_every_steps = 100
    config.train.log_every_steps = 10
    return config


def value(config, key: str):
    """The value at a dotted key, e.g. value(config, "train.epochs")."""
    for part in key.split("."):
        config = config[part]
    return config


def image_shape(config, prefix: str = "") -> tuple[int, int]:
    """(height, width) images are resized to: `data.image_size` × `data.image_size`, or
    `data.image_height` × `data.image_size` when that is set (a missing key, e.g. in the
    config.json of an older run, is 0). `config`: a ConfigDict or a plain dict."""
    data = value(config, prefix + "data")
    width = int(data["image_size"])
    return int(data.get("image_height", 0) or width), width


def require_square(config, trainer: str, prefix: str = "") -> None:
    """Refuses non-square images (`data.image_height` set) for a job that takes only square
    ones; `trainer` names it in the message."""
    key = prefix + "data.image_height"
    height = value(config, key)
    if height:
        raise UserError(
            f"config key {key}={height!r}: {trainer} takes square images only; leave it 0 "
            f"({prefix}data.image_size × {prefix}data.image_size)"
        )


def require_positive(config, *keys: str, allow_zero: bool = False) -> None:
    """Refuses a key whose value (or any value of a tuple) is not a number > 0 (≥ 0 with
    `allow_zero`)."""
    for key in keys:
        v = value(config, key)
        values = tuple(v) if isinstance(v, (tuple, list)) else (v,)
        if not values or not all(
            _is_number(x) and (x >= 0 if allow_zero else x > 0) for x in values
        ):
            need = "numbers ≥ 0" if allow_zero else "numbers > 0"
            raise UserError(f"config key {key}={v!r}: expected {need}")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def require_choice(config, key: str, choices) -> None:
    """Refuses a key whose value is not one of `choices`."""
    v = value(config, key)
    if v not in choices:
        raise UserError(f"config key {key}={v!r}: expected one of {list(choices)}")


def require_fraction(config, key: str) -> None:
    """Refuses a key whose value is not in [0, 1]."""
    v = value(config, key)
    if not _is_number(v) or not 0 <= v <= 1:
        raise UserError(f"config key {key}={v!r}: expected a value in [0, 1]")


def check_shared(config, prefix: str = "") -> None:
    """Checks the shared keys (sizes and counts positive, enumerations known, the data
    folder present); raises UserError naming the first bad key. `prefix`: where the keys
    sit in `config` (e.g. "cyclegan_stage." for a stage's own config)."""
    p = prefix
    if not value(config, p + "workdir"):
        raise UserError(f"config key {p}workdir is empty: name the folder the run writes into")
    require_positive(config, p + "seed", allow_zero=True)
    root = value(config, p + "data.root")
    if root and not os.path.isdir(root):
        raise UserError(f"config key {p}data.root: no such folder {root!r}")
    require_positive(
        config, p + "data.image_size", p + "data.cache_budget_gb", p + "data.max_pixels"
    )
    require_positive(config, p + "data.image_height", allow_zero=True)  # an int (ConfigDict)
    phantom_counts = ("n_train", "n_val", "n_test")
    require_positive(config, *(f"{p}data.phantoms.{n}" for n in phantom_counts))
    require_positive(config, p + "data.phantoms.n_reference", allow_zero=True)
    require_positive(config, p + "data.phantoms.size")
    require_fraction(config, p + "data.phantoms.difficulty")
    if value(config, p + "data.phantoms.pas_matrix_fade") != -1:
        require_fraction(config, p + "data.phantoms.pas_matrix_fade")
    positive = ("epochs", "batch_size", "checkpoint_every_steps", "log_every_steps")
    require_positive(config, *(f"{p}train.{k}" for k in positive))
    counts = ("steps_per_epoch", "num_cpu_replicas")
    require_positive(config, *(f"{p}train.{k}" for k in counts), allow_zero=True)
    require_choice(config, p + "train.strategy", runtime.STRATEGIES)
    require_choice(config, p + "train.mixed_precision", runtime.PRECISIONS)
    if value(config, p + "train.deterministic") and value(config, p + "train.jit_compile"):
        raise UserError(
            f"config keys {p}train.deterministic and {p}train.jit_compile cannot both be True: "
            "XLA has no deterministic max-pooling gradient"
        )
