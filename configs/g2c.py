"""G2C, generator-to-classifier (G2C papers; docs/METHODS.md): the CycleGAN stage's g_m
feed a weight-shared stem-block ResNet branch per stain, trained jointly.

    python -m trainers.g2c --config=configs/g2c.py                  # PAS_ALL_PLUS
    python -m trainers.g2c --config=configs/g2c.py --config.variant=PAS_ONLY \
        --config.workdir=runs/g2c_pas_only
    python -m trainers.g2c --config=configs/g2c.py \
        --config.g2c.generators_dir=runs/cyclegan/generators   # g_m trained before

With `g2c.generators_dir` empty, the CycleGAN stage (`cyclegan_stage`, the keys
of configs/cyclegan.py) first trains g_m for the variant's stains into
`workdir/cyclegan/` on the same data; a rerun finds them there.

Variants: PAS_ONLY, PAS_HE, PAS_MASSON, PAS_PASM, PAS_ALL, PAS_ALL_PLUS (with
cross-stain attention); `--config.g2c.train_generators=False` is the
frozen-generator ablation. Sized for the 64 px phantoms like
configs/classifier.py (the papers' schedule: 30 epochs, lr 0.01 ÷10 every 5,
generators frozen for the first 5).
"""

import ml_collections

from kerasg2c.jobs.config_files import load_module

classifier = load_module("classifier.py", relative_to=__file__)
cyclegan = load_module("cyclegan.py", relative_to=__file__)
paired_translator = load_module("paired_translator.py", relative_to=__file__)


def get_config() -> ml_collections.ConfigDict:
    config = classifier.get_config()
    config.workdir = "runs/g2c"
    config.variant = "PAS_ALL_PLUS"

    config.g2c = ml_collections.ConfigDict()
    config.g2c.generators_dir = ""  # a CycleGAN run's generators/; '' = run the stage below
    # A folder where runs share that stage: trained once per stage config, stains and data,
    # reused by every later run with the same (kerasg2c.jobs.stage_cache); '' = in workdir.
    config.g2c.stage_cache = ""
    # generated: the CycleGAN stage's g_m (the papers) | supervised: generators of the same
    # architecture trained with the true pairs, L1 (paired/, the best g_m can do) |
    # paired: the true stains themselves, the stain oracle (paired/ at every split).
    config.g2c.stain_source = "generated"
    config.g2c.freeze_generators_epochs = 5
    config.g2c.train_generators = True  # False: frozen-generator ablation
    # The generators' SGD learning rate in the joint phase (same momentum and step decay as
    # the classifier's). The papers use one rate, 0.01, for both; at this config's
    # classifier rate (0.05) the jointly trained generators collapse into stripes within
    # an epoch (kerasg2c.tools.compare --figure shows it), so they get their own, smaller one.
    config.g2c.generator_learning_rate = 0.001

    config.model.attention_reduction = 16
    # Overlapping phantom classes: at difficulty 0 PAS alone separates them perfectly and
    # every variant scores 1.0; at 0.7 PAS_ONLY does not (docs/METHODS.md, phantoms).
    config.data.phantoms.difficulty = 0.7

    # --- The CycleGAN stage run when g2c.generators_dir is empty -------------
    # Its data, image size, seed and runtime keys follow this config's.
    config.cyclegan_stage = cyclegan.get_config()
    config.cyclegan_stage.train.epochs = 10
    config.cyclegan_stage.optimizer.constant_epochs = 5
    config.cyclegan_stage.optimizer.decay_epochs = 5
    # --- The supervised stage (g2c.stain_source=supervised), likewise --------
    config.supervised_stage = paired_translator.get_config()
    return config
