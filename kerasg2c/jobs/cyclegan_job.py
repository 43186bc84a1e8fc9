"""The CycleGAN job (`python -m trainers.cyclegan`): one translator per target stain,
measured against ground truth or by Fréchet distance; exports the forward generators g_m
that G2C loads.

Per target stain m, in `workdir/<source>_to_<m>/`: the resumable training loop, a sample
grid per epoch (source, translated, reconstructed, truth), and the generator that scored
best on validation (`best_generator.keras`, copied to `workdir/generators/<m>.keras`).
The run's `report.json` holds, per stain, the evaluation of g_m on val and test
(`kerasg2c.evaluation.translation_quality`).
"""

import os
import shutil

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kerasg2c import json_files
from kerasg2c.data import layout, pipeline, stain_pairs
from kerasg2c.errors import UserError
from kerasg2c.evaluation import frechet, translation_quality
from kerasg2c.jobs import identity_warmup, reporting, shared_config, train_settings
from kerasg2c.layers.generator_block import PADDINGS
from kerasg2c.models import patch_discriminator, resnet_generator
from kerasg2c.models.cyclegan import ADVERSARIAL_LOSSES, CycleGAN
from kerasg2c.models.patch_discriminator import PatchDiscriminator
from kerasg2c.models.resnet_generator import ResnetGenerator
from kerasg2c.optimizers.schedules import ConstantThenLinearDecay
from kerasg2c.pathology import reinhard as stain_transfer
from kerasg2c.training import loop


def check(config, prefix: str = "") -> None:
    """Refuses bad values of the CycleGAN keys (and the shared ones), naming the key;
    `prefix`: where this config sits in the one given (G2C's "cyclegan_stage.")."""
    p = prefix
    check_translator(config, p, "CycleGAN")
    shared_config.require_choice(config, p + "cyclegan.condition", stain_pairs.CONDITIONS)
    shared_config.require_positive(config, p + "cyclegan.identity_warmup_epochs", allow_zero=True)
    shared_config.require_positive(
        config, *(f"{p}model.{k}" for k in ("ndf", "d_layers", "pool_size"))
    )
    shared_config.require_choice(config, p + "model.adversarial_loss", ADVERSARIAL_LOSSES)
    shared_config.require_choice(config, p + "model.discriminator", patch_discriminator.VARIANTS)
    weights = ("lambda_cycle", "lambda_identity")
    shared_config.require_positive(config, *(f"{p}model.{k}" for k in weights), allow_zero=True)


def check_translator(config, prefix: str, trainer: str) -> None:
    """The keys of every translator job (`trainer` names it in messages): the shared ones,
    `cyclegan.target_stains` and `n_unlabeled`, the generator's `model.*` and `optimizer.*`."""
    p = prefix
    shared_config.check_shared(config, p)
    shared_config.require_square(config, trainer, p)
    if shared_config.value(config, p + "data.tfds"):
        raise UserError(f"config key {p}data.tfds: {trainer} needs a DATA_ROOT with reference/")
    if not shared_config.value(config, p + "cyclegan.target_stains"):
        raise UserError(f"config key {p}cyclegan.target_stains: name at least one stain")
    shared_config.require_positive(config, p + "cyclegan.n_unlabeled", allow_zero=True)
    shared_config.require_positive(config, *(f"{p}model.{k}" for k in ("ngf", "n_blocks")))
    shared_config.require_choice(config, p + "model.upsampling", resnet_generator.UPSAMPLING)
    shared_config.require_choice(config, p + "model.padding", PADDINGS)
    shared_config.require_positive(config, p + "optimizer.learning_rate")
    shared_config.require_fraction(config, p + "optimizer.beta_1")
    epochs = ("constant_epochs", "decay_epochs")
    shared_config.require_positive(config, *(f"{p}optimizer.{k}" for k in epochs), allow_zero=True)


def build_model(config, num_classes: int) -> CycleGAN:
    """Four networks, every variable created (called on dummy inputs)."""
    m, size = config.model, config.data.image_size

    def generator(name):
        return make_generator(m, name)

    def discriminator(name):
        return PatchDiscriminator(m.ndf, m.d_layers, variant=m.discriminator, name=name)

    model = CycleGAN(
        generator("generator_ab"),
        generator("generator_ba"),
        discriminator("discriminator_a"),
        discriminator("discriminator_b"),
        lambda_cycle=m.lambda_cycle,
        lambda_identity=m.lambda_identity,
        adversarial_loss=m.adversarial_loss,
        pool_size=m.pool_size,
        num_classes=num_classes,
    )
    model(tf.zeros((1, size, size, 3 + num_classes)))  # builds all four networks and the pools
    return model


def make_generator(model_config, name: str) -> ResnetGenerator:
    """A g_m (or ĝ_m) of the `model.*` keys: ngf, n_blocks, upsampling, padding."""
    m = model_config
    return ResnetGenerator(m.ngf, m.n_blocks, m.upsampling, padding=m.padding, name=name)


def make_optimizers(opt_config, steps_per_epoch: int):
    """Adam(β1) with the learning rate constant for `constant_epochs`, then linearly
    decayed to 0 over `decay_epochs` (0: constant throughout, the IHC recipe). The
    model adds loss scaling under mixed_float16."""

    def adam():
        lr = opt_config.learning_rate
        if opt_config.decay_epochs:
            lr = ConstantThenLinearDecay(
                lr,
                constant_steps=opt_config.constant_epochs * steps_per_epoch,
                decay_steps=opt_config.decay_epochs * steps_per_epoch,
            )
        return keras.optimizers.Adam(lr, beta_1=opt_config.beta_1)

    return adam(), adam()


def train_pair(config, context, pair: stain_pairs.StainPair, extract) -> dict:
    """Trains (or resumes) one translator in `context.workdir/<pair>`; returns its
    evaluation on val and test."""
    logging.info(
        "training %s (%d + %d unpaired training patches)",
        pair.name,
        len(pair.train_a),
        len(pair.train_b),
    )
    size, batch = config.data.image_size, config.train.batch_size
    num_classes = len(pair.classes) if pair.conditional else 0
    sides = f"the training sides of {pair.name} ({len(pair.train_a)} + {len(pair.train_b)})"
    spe = train_settings.steps_per_epoch(config, pair.examples(), sides)  # fewer: repeated
    with context.strategy.scope():
        model = build_model(config, num_classes)
        model.compile(*make_optimizers(config.optimizer, spe))

    make_dataset = train_settings.epoch_reader(
        config, pair.dataset, batch_size=batch, steps_per_epoch=spe, image_size=size
    )

    workdir = os.path.join(context.workdir, pair.name)
    identity_warmup.warm_up(config, context, workdir, model, make_dataset, spe)
    return fit_translator(config, context, pair, extract, model, make_dataset, spe)


def fit_translator(config, context, pair, extract, model, make_dataset, spe) -> dict:
    """Trains (or resumes) `model` with the loop in `context.workdir/<pair>`, scores its
    `generator_ab` on the validation split after every epoch, keeps the best one
    (`best_generator.keras`, `best.json`) and returns the best one's evaluation on val and
    test with the training history.

    `model`: built and compiled in `context.strategy`'s scope; a CycleGAN or any model
    `translation_quality.translate` accepts. `make_dataset`, `spe`: as `loop.fit` takes them.
    """
    workdir = os.path.join(context.workdir, pair.name)
    size, batch = config.data.image_size, config.train.batch_size
    # The real target patches, read once for both evaluation splits.
    reference = pipeline.load_images(pipeline.LabeledSplit.unlabeled(pair.reference_b), size)
    target_stats = stain_transfer.lab_statistics(reference)
    reference_features = None
    if any(truth is None for _, truth in pair.eval.values()):
        reference_features = frechet.feature_statistics(extract, reference, batch_size=64)
    scorers = {
        split: translation_quality.TranslationScore(
            pair.eval[split], size, batch, extract, target_stats, reference_features
        )
        for split in ("val", "test")
    }
    best_path = os.path.join(workdir, "best_generator.keras")
    best_file = os.path.join(workdir, "best.json")
    best = json_files.read_object(best_file, {"score": -np.inf, "epoch": 0})

    def on_epoch_end(epoch):
        score, metrics, images = scorers["val"](model)
        if context.chief:
            name = f"{pair.name}_epoch{epoch + 1:03d}"
            scorers["val"].grid(images, workdir, name, (epoch + 1) * spe)
            if score > best["score"]:
                best.update(score=float(score), epoch=epoch + 1)
                model.generator_ab.save(best_path)
                json_files.write(best_file, best)
        return {"val_score": float(score), **translation_quality.headline(metrics)}

    history = loop.fit(
        model,
        make_dataset,
        strategy=context.strategy,
        workdir=workdir,
        settings=train_settings.loop_settings(config, spe),
        on_epoch_end=on_epoch_end,
    )
    if not context.chief:
        return {}
    model.generator_ab.set_weights(keras.saving.load_model(best_path).get_weights())
    result = {"best_epoch": best["epoch"], "history": history}
    for split, scorer in scorers.items():
        result[split] = scorer(model)[1]
    return result


def train_and_evaluate(config, context) -> dict:
    """Every translator of `cyclegan.target_stains`, then `report.json`."""
    keras.utils.set_random_seed(config.seed)
    condition = config.cyclegan.condition
    source, results = train_each_stain(config, context, condition, train_pair)
    if not context.chief:
        return {}
    # The class of condition channel i, by name: no class role follows folder order.
    classes = layout.read_dataset_info(context.data_root).classes if condition else None
    return write_translation_report(
        context.workdir,
        "cyclegan",
        source,
        results,
        condition=condition or None,
        condition_classes=list(classes) if classes else None,
        features_for_frechet="seeded random StemResNet(16, 32, 64), pooled",
    )


def train_each_stain(config, context, condition, train_one) -> tuple[str, dict]:
    """For each stain of `cyclegan.target_stains`: its `StainPair` (with `condition`),
    `train_one(config, context, pair, extract)` -> its result, and its best generator
    copied to `workdir/generators/<stain>.keras`. Returns (source stain, {stain: result})."""
    info = layout.read_dataset_info(context.data_root)
    source = config.cyclegan.source_stain or info.source_stain
    for target in config.cyclegan.target_stains:
        if target == source or target not in info.stains:
            raise UserError(
                f"config key cyclegan.target_stains: {target!r} is the source stain "
                f"or not one of the dataset's stains {list(info.stains)}"
            )
    extract = translation_quality.feature_extractor(config.seed)
    scan_cache = os.path.join(context.workdir, "data_scan.json")
    results = {}
    for target in config.cyclegan.target_stains:
        pair = stain_pairs.StainPair(
            context.data_root,
            info,
            source,
            target,
            n_unlabeled=config.cyclegan.n_unlabeled,
            condition=condition,
            seed=config.seed,
            strict=config.data.strict,
            scan_cache=scan_cache,
            max_pixels=config.data.max_pixels,
        )
        results[target] = train_one(config, context, pair, extract)
        if context.chief:
            os.makedirs(os.path.join(context.workdir, "generators"), exist_ok=True)
            shutil.copy(
                os.path.join(context.workdir, pair.name, "best_generator.keras"),
                os.path.join(context.workdir, "generators", f"{target}.keras"),
            )
    return source, results


def write_translation_report(workdir, trainer, source, results, **extra) -> dict:
    """`report.json` of one translator per target stain: {"trainer", "source_stain",
    **extra, "stains": results, "generators"}; logs each stain's test SSIM."""
    report = {
        "trainer": trainer,
        "source_stain": source,
        **extra,
        "stains": results,
        "generators": {t: f"generators/{t}.keras" for t in results},
    }
    path = reporting.write_report(workdir, report)
    for target, r in results.items():
        if "model" in r["test"]:
            logging.info(
                "%s→%s test SSIM %.3f (identity %.3f, Reinhard %.3f)",
                source,
                target,
                r["test"]["model"]["ssim"]["mean"],
                r["test"]["identity"]["ssim"]["mean"],
                r["test"]["reinhard"]["ssim"]["mean"],
            )
    logging.info("report: %s", path)
    return report
