"""Trains one CycleGAN per target stain and measures how well it translates
(`trainers.cyclegan`); exports the forward generators g_m that G2C loads.

Per target stain m, in `workdir/<source>_to_<m>/`: the resumable training
loop, a sample grid per epoch (source, translated, reconstructed, truth), and
the generator that scored best on validation (`best_generator.keras`). With
ground truth (`paired/`, phantoms) the score is SSIM of g_m(x) against the
true target-stain image; without it, the Fréchet distance between features of
translated and real target patches. The run's `report.json` holds, per stain,
the fidelity table of g_m against the identity and Reinhard baselines.
"""

import json
import os
import shutil

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kerasg2c.data import decode, layout, pipeline
from kerasg2c.evaluation import fidelity, frechet, stain_transfer
from kerasg2c.models.cyclegan import CycleGAN
from kerasg2c.models.patch_discriminator import PatchDiscriminator
from kerasg2c.models.resnet_generator import ResnetGenerator
from kerasg2c.models.stem_resnet import StemResNet
from kerasg2c.optimizers.schedules import ConstantThenLinearDecay
from kerasg2c.runs import common
from kerasg2c.training import loop, runtime, samples

CONDITIONS = ("", "labels")


def build_model(config, num_classes: int) -> CycleGAN:
    """Four networks, every variable created (called on dummy inputs), compiled."""
    m, size = config.model, config.data.image_size

    def generator(name):
        return ResnetGenerator(m.ngf, m.n_blocks, m.upsampling, padding=m.padding, name=name)

    def discriminator(name):
        return PatchDiscriminator(m.ndf, variant=m.discriminator, name=name)

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


class StainPair:
    """The data of one translator: unpaired training sets and evaluation splits."""

    def __init__(self, config, root, info, source, target, scan_cache):
        self.source, self.target = source, target
        self.name = f"{source}_to_{target}"
        c, strict = config.cyclegan, config.data.strict
        self.classes = info.classes
        # Real patches of the target stain: the unpaired training side, and the
        # statistics of the Reinhard baseline and of the Fréchet distance.
        self.reference_b = _reference_files(
            root, target, c.n_unlabeled, config.seed + 1, strict, scan_cache
        )
        if c.condition == "labels":
            self.train_a = pipeline.load_labeled_split(
                root, "train", classes=info.classes, strict=strict, scan_cache=scan_cache
            )
            self.train_b = _paired_split(root, target, "train", info.classes, strict, scan_cache)
        else:
            self.train_a = _reference_files(
                root, source, c.n_unlabeled, config.seed, strict, scan_cache
            )
            self.train_b = self.reference_b
        self.eval = {}
        for split in ("val", "test"):
            x = pipeline.load_labeled_split(
                root, split, classes=info.classes, strict=strict, scan_cache=scan_cache
            )
            truth = None
            if os.path.isdir(os.path.join(root, "paired", target, split)):
                truth = _paired_split(root, target, split, info.classes, strict, scan_cache)
                x, truth = _aligned(x, truth)
            self.eval[split] = (x, truth)

    def steps_per_epoch(self, batch_size: int) -> int:
        n_a, n_b = len(self.train_a), len(self.train_b)
        n = min(n_a, n_b) if isinstance(self.train_a, pipeline.LabeledSplit) else max(n_a, n_b)
        return pipeline.steps_per_epoch(n, batch_size)


def _reference_files(root, stain, n, seed, strict, scan_cache) -> list:
    """Up to `n` readable files of `reference/<stain>/` (a seeded choice; 0 = all)."""
    paths = decode.scan_images(
        layout.list_reference(root, stain), strict=strict, cache_path=scan_cache
    ).good
    paths = sorted(paths)
    if n and n < len(paths):
        chosen = np.random.default_rng(seed).choice(len(paths), n, replace=False)
        paths = [paths[i] for i in sorted(chosen)]
    return paths


def _paired_split(root, stain, split, classes, strict, scan_cache) -> pipeline.LabeledSplit:
    """`paired/<stain>/<split>` as a LabeledSplit (labels and patients of `labeled/`)."""
    paths, labels, patients = layout.list_paired(root, stain, split, classes)
    good = set(decode.scan_images(paths, strict=strict, cache_path=scan_cache).good)
    listed = pipeline.LabeledSplit(
        f"{split}_{stain}", tuple(classes), tuple(paths), labels, tuple(patients)
    )
    return listed.subset([i for i, p in enumerate(paths) if p in good])


def _aligned(x, truth):
    """Keeps the examples readable in both splits (same relative path)."""

    def key(p):
        return os.path.join(*p.split(os.sep)[-2:])

    common_keys = {key(p) for p in x.paths} & {key(p) for p in truth.paths}

    def subset(split):
        return split.subset([i for i, p in enumerate(split.paths) if key(p) in common_keys])

    return subset(x), subset(truth)


def make_dataset_fn(pair: StainPair, config, conditional: bool):
    """(epoch, skip) -> that epoch's training batches: (a, b), or ((a, class_a), (b, class_b))."""
    size, batch, seed = config.data.image_size, config.train.batch_size, config.seed

    def unconditional(epoch, skip):
        return pipeline.unpaired_dataset(
            pair.train_a,
            pair.train_b,
            batch_size=batch,
            image_size=size,
            seed=seed,
            epoch=epoch,
            skip_batches=skip,
            augment=config.data.augment,
        )

    def labelled(epoch, skip):
        sides = [
            split.dataset(
                batch_size=batch,
                image_size=size,
                value_range="symmetric",
                training=True,
                seed=seed + side,
                epoch=epoch,
                skip_batches=skip,
                augment=config.data.augment,
            )
            for side, split in enumerate((pair.train_a, pair.train_b))
        ]
        n = len(pair.classes)
        return tf.data.Dataset.zip(tuple(sides)).map(
            lambda a, b: ((a[0], tf.one_hot(a[1], n)), (b[0], tf.one_hot(b[1], n)))
        )

    return labelled if conditional else unconditional


def translate(model, split, config) -> dict:
    """Source, g_m(x) and ĝ_m(g_m(x)) of every image of `split`, in [0, 1]."""
    n = model.num_classes

    def condition(images, labels):
        return model.with_class(images, tf.one_hot(labels, n) if n else None)

    out = {"source": [], "translated": [], "reconstructed": []}
    ds = split.dataset(
        batch_size=config.train.batch_size,
        image_size=config.data.image_size,
        value_range="symmetric",
    )
    for images, labels in ds:
        fake = model.generator_ab(condition(images, labels), training=False)
        rec = model.generator_ba(condition(fake, labels), training=False)
        for key, value in (("source", images), ("translated", fake), ("reconstructed", rec)):
            out[key].append((np.asarray(value) + 1.0) / 2.0)
    return {k: np.clip(np.concatenate(v), 0.0, 1.0) for k, v in out.items()}


def load_images(paths_or_split, config) -> np.ndarray:
    """All images of a LabeledSplit or a list of files, in [0, 1]."""
    split = paths_or_split
    if not isinstance(split, pipeline.LabeledSplit):
        split = pipeline.LabeledSplit(
            "files", ("unlabeled",), tuple(split), np.zeros(len(split), np.int32), tuple(split)
        )
    ds = split.dataset(batch_size=64, image_size=config.data.image_size)
    return np.concatenate([images.numpy() for images, _ in ds])


class TranslationScore:
    """Scores a translator on one evaluation split, with or without ground truth.

    With truth: the fidelity table (SSIM, PSNR, colour error of g_m(x), the
    identity and Reinhard baselines); the selection score is mean SSIM.
    Without: Fréchet distance between features of g_m(x) and of real target
    patches, and the cycle-reconstruction error; the score is minus the distance.
    """

    def __init__(self, split, config, extract_features, target_stats, reference_features):
        """split: (source split, its truth split or None); target_stats: the target
        stain's LAB statistics (Reinhard); reference_features: Fréchet statistics of
        real target patches (used without truth)."""
        self.config = config
        self.x, truth = split
        self.truth = None if truth is None else load_images(truth, config)
        self.target_stats, self.reference_features = target_stats, reference_features
        self.extract = extract_features

    def __call__(self, model) -> tuple[float, dict, dict]:
        """Returns (selection score, metrics, the translated images)."""
        images = translate(model, self.x, self.config)
        cycle = float(
            np.mean(frechet.cycle_reconstruction_error(images["source"], images["reconstructed"]))
        )
        if self.truth is not None:
            reinhard = stain_transfer.reinhard_transfer(images["source"], *self.target_stats)
            table = fidelity.fidelity_table(
                images["translated"], self.truth, images["source"], reinhard=reinhard
            )
            table["cycle_reconstruction_error"] = cycle
            return table["model"]["ssim"]["mean"], table, images
        translated = frechet.feature_statistics(self.extract, images["translated"], 64)
        distance = frechet.frechet_distance_from_statistics(*translated, *self.reference_features)
        metrics = {"frechet_distance": distance, "cycle_reconstruction_error": cycle}
        return -distance, metrics, images

    def grid(self, images, workdir, name, step, n=6) -> None:
        """Rows: source, translated, reconstructed (and the true target stain)."""
        index = np.unique(np.linspace(0, len(self.x) - 1, n).round().astype(int))
        rows = {k: images[k] for k in ("source", "translated", "reconstructed")}
        if self.truth is not None:
            rows["true target"] = self.truth
        tiles = np.concatenate([row[index] for row in rows.values()])
        titles = [name if j == 0 else "" for name in rows for j in range(len(index))]
        samples.write_image_grid(workdir, name, tiles, step, titles, columns=len(index))


def feature_extractor(config):
    """Features for the Fréchet distance: a fixed, seeded, randomly initialised
    stem-block ResNet, globally pooled (no pretrained weights can be fetched;
    random convolutional features still separate colour and texture statistics)."""
    keras.utils.set_random_seed(config.seed)
    backbone = StemResNet(widths=(16, 32, 64), blocks_per_unit=1, stem_width=16)
    pool = keras.layers.GlobalAveragePooling2D()
    forward = tf.function(lambda x: pool(backbone(x, training=False)), reduce_retracing=True)
    return lambda images: forward(tf.convert_to_tensor(images, tf.float32)).numpy()


def train_pair(config, strategy, pair: StainPair, workdir: str, extract) -> dict:
    """Trains (or resumes) one translator; returns its evaluation on val and test."""
    chief = runtime.is_chief(strategy)
    conditional = bool(config.cyclegan.condition)
    num_classes = len(pair.classes) if conditional else 0
    spe = config.train.steps_per_epoch or pair.steps_per_epoch(config.train.batch_size)
    with strategy.scope():
        model = build_model(config, num_classes)
        model.compile(*make_optimizers(config.optimizer, spe))
    # The real target patches, read once for both evaluation splits.
    reference = load_images(pair.reference_b, config)
    target_stats = stain_transfer.lab_statistics(reference)
    reference_features = None
    if any(truth is None for _, truth in pair.eval.values()):
        reference_features = frechet.feature_statistics(extract, reference, batch_size=64)
    scorers = {
        split: TranslationScore(pair.eval[split], config, extract, target_stats, reference_features)
        for split in ("val", "test")
    }
    best_path = os.path.join(workdir, "best_generator.keras")
    best_file = os.path.join(workdir, "best.json")
    best = _read_json(best_file, {"score": -np.inf, "epoch": 0})

    def on_epoch_end(epoch):
        score, metrics, images = scorers["val"](model)
        if chief:
            scorers["val"].grid(
                images, workdir, f"{pair.name}_epoch{epoch + 1:03d}", (epoch + 1) * spe
            )
            if score > best["score"]:
                best.update(score=float(score), epoch=epoch + 1)
                model.generator_ab.save(best_path)
                _write_json(best_file, best)
        return {"val_score": float(score), **_headline(metrics)}

    settings = common.loop_settings(config, spe)
    history = loop.fit(
        model,
        make_dataset_fn(pair, config, conditional),
        strategy=strategy,
        workdir=workdir,
        settings=settings,
        on_epoch_end=on_epoch_end,
    )
    if not chief:
        return {}
    model.generator_ab.set_weights(keras.saving.load_model(best_path).get_weights())
    result = {"best_epoch": best["epoch"], "history": history}
    for split, scorer in scorers.items():
        result[split] = scorer(model)[1]
    return result


def train_and_evaluate(config) -> dict:
    """Every translator of `cyclegan.target_stains`, then `report.json`."""
    if config.cyclegan.condition not in CONDITIONS:
        raise ValueError(
            f"config key cyclegan.condition={config.cyclegan.condition!r}: "
            f"expected one of {CONDITIONS}"
        )
    strategy = runtime.configure(config.train, config.seed)
    chief = runtime.is_chief(strategy)
    workdir = common.prepare_workdir(config, chief)
    if config.data.tfds:
        raise ValueError("config key data.tfds: CycleGAN needs a DATA_ROOT with reference/<stain>/")
    root = common.data_root(config, workdir, strategy)
    info = layout.read_dataset_info(root)
    source = config.cyclegan.source_stain or info.source_stain
    extract = feature_extractor(config)
    scan_cache = os.path.join(workdir, "data_scan.json")
    results = {}
    for target in config.cyclegan.target_stains:
        if target == source or target not in info.stains:
            raise ValueError(
                f"config key cyclegan.target_stains: {target!r} is the source stain "
                f"or not one of the dataset's stains {list(info.stains)}"
            )
        pair = StainPair(config, root, info, source, target, scan_cache)
        logging.info(
            "training %s (%d + %d unpaired training patches)",
            pair.name,
            len(pair.train_a),
            len(pair.train_b),
        )
        results[target] = train_pair(
            config, strategy, pair, os.path.join(workdir, pair.name), extract
        )
        if chief:
            os.makedirs(os.path.join(workdir, "generators"), exist_ok=True)
            shutil.copy(
                os.path.join(workdir, pair.name, "best_generator.keras"),
                os.path.join(workdir, "generators", f"{target}.keras"),
            )
    if not chief:
        return {}
    report = {
        "trainer": "cyclegan",
        "source_stain": source,
        "condition": config.cyclegan.condition or None,
        "features_for_frechet": "seeded random StemResNet(16, 32, 64), pooled",
        "stains": results,
        "generators": {t: f"generators/{t}.keras" for t in results},
    }
    path = common.write_report(workdir, report)
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


def _headline(metrics: dict) -> dict:
    """The translator's own validation figures, for the history (the baselines'
    do not change between epochs)."""
    out = {f"val_{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    for name, value in metrics.get("model", {}).items():
        out[f"val_{name}"] = float(value["mean"])
    out.pop("val_n", None)
    out.pop("val_psnr_cap_db", None)
    return out


def _read_json(path, default):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return dict(default)


def _write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f)
