"""The paired-translator job (`python -m trainers.paired_translator`): per target stain,
a generator of the CycleGAN's architecture trained WITH the pairs, by per-pixel L1
between g(x) and the true target-stain image of the same patch.

It needs `paired/<stain>/train` (phantoms have it): `labeled/train` ↔ its twin, aligned
file by file, one shuffle and one augmentation for both (`stain_pairs.paired_dataset`);
labels are unused. What the CycleGAN job does around the training is the same and shared
(`cyclegan_job.fit_translator`, `train_each_stain`): in `workdir/<source>_to_<m>/` the
resumable loop, a sample grid per epoch, the generator that scored best on validation SSIM
(`best_generator.keras`, copied to `workdir/generators/<m>.keras`); `report.json` has, per
stain, the evaluation on val and test beside the identity and Reinhard baselines. Its test
SSIM is an estimate of the best a generator of that size can do from the source stain.
"""

import functools

import keras
import tensorflow as tf
from absl import logging

from kerasg2c.data import stain_pairs
from kerasg2c.jobs import cyclegan_job, train_settings
from kerasg2c.models.paired_translator import PairedTranslator


def check(config, prefix: str = "") -> None:
    """Refuses bad values of the keys it uses (configs/cyclegan.py's generator, optimizer
    and `cyclegan.target_stains`, and the shared ones), naming the key. That the data has
    `paired/<stain>/train` is checked when it is read (phantoms are written later)."""
    cyclegan_job.check_translator(config, prefix, "the paired translator")


def build_model(config) -> PairedTranslator:
    """The generator of the `model.*` keys, every variable created."""
    model = PairedTranslator(cyclegan_job.make_generator(config.model, "generator_ab"))
    size = config.data.image_size
    model(tf.zeros((1, size, size, 3)))
    return model


def train_pair(config, context, pair: stain_pairs.StainPair, extract) -> dict:
    """Trains (or resumes) one translator on the aligned training pairs of `pair` in
    `context.workdir/<pair>`; returns its evaluation on val and test."""
    train_a, train_b = stain_pairs.aligned(pair.train_a, pair.train_b)
    logging.info("training %s (%d aligned training pairs)", pair.name, len(train_a))
    size, batch = config.data.image_size, config.train.batch_size
    pairs = f"the training pairs of {pair.name}"
    spe = train_settings.steps_per_epoch(config, len(train_a), pairs)  # fewer: repeated
    with context.strategy.scope():
        model = build_model(config)
        model.compile(cyclegan_job.make_optimizers(config.optimizer, spe)[0])

    make_dataset = train_settings.epoch_reader(
        config,
        functools.partial(stain_pairs.paired_dataset, train_a, train_b),
        batch_size=batch,
        steps_per_epoch=spe,
        image_size=size,
    )

    return cyclegan_job.fit_translator(config, context, pair, extract, model, make_dataset, spe)


def train_and_evaluate(config, context) -> dict:
    """Every translator of `cyclegan.target_stains`, then `report.json`."""
    keras.utils.set_random_seed(config.seed)
    # condition="labels": the pair's training sides are labeled/train and paired/<m>/train.
    source, results = cyclegan_job.train_each_stain(config, context, "labels", train_pair)
    if not context.chief:
        return {}
    return cyclegan_job.write_translation_report(
        context.workdir, "paired_translator", source, results, loss="l1"
    )
