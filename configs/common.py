"""Keys every trainer's config has, with the same names and meanings.

Users and scripts rely on these across trainers (issue #2):

  workdir                 checkpoints, logs, samples, report.json, exports
  seed                    one seed for weights, data order and augmentation
  data.root               a DATA_ROOT (SPEC.md layout); '' = generate phantoms into workdir/data
  data.tfds               a TensorFlow Datasets name used instead of data.root ('' = off)
  data.image_size         every image is resized to this square size
  data.strict             True: the first unreadable image stops the run, naming the file
  train.epochs            number of epochs
  train.batch_size        GLOBAL batch size (split across replicas and workers)
  train.steps_per_epoch   0 = one pass over the training split
  train.strategy          auto | default | mirrored | multi_worker
  train.jit_compile       XLA-compile the replica step
  train.mixed_precision   '' | mixed_float16 | mixed_bfloat16
"""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    """Returns the shared keys with their defaults; trainers add `model`, `optimizer`."""
    config = ml_collections.ConfigDict()
    config.workdir = "runs/default"
    config.seed = 0

    # --- Data ---------------------------------------------------------------
    config.data = ml_collections.ConfigDict()
    config.data.root = ""
    config.data.tfds = ""
    config.data.tfds_data_dir = ""
    config.data.image_size = 64
    config.data.strict = False
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
