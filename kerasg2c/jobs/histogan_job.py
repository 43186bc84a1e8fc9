"""The HistoGAN job (`python -m trainers.histogan`): feature extractor → HistoGAN with FID
model selection → generation → selective augmentation → augmented DATA_ROOTs.

1. Feature extractor (HistoGAN paper §3.1.2): a classifier trained on the same labeled
   data, `histogan.feature_extractor` (a classifier run folder with `model.keras`), or,
   when empty, the `feature_extractor` stage (configs/classifier.py's keys) trained into
   `workdir/feature_extractor/` first.
2. HistoGAN (`kerasg2c.models.histogan`) on `labeled/train` with the one loop; a batch
   holds `n_critic` sub-batches of `train.batch_size` (one per critic update).
3. Model selection (§3.1.2): after `histogan.fid_warmup_epochs`, every epoch's generator
   makes `histogan.fid_samples` images (the same noise and the training split's class
   mix every epoch); their FID against the real training images, on the extractor's
   pooled features, is smoothed by the paper's EMA (α = `histogan.ema_alpha`); the epoch
   with the lowest smoothed FID is kept (`best_generator.keras`, `fid_curve.png`).
4. Selective augmentation (§3.2, Algorithm 1) per class with the MC-dropout extractor,
   and one DATA_ROOT per arm in `workdir/augmented/<arm>/`: the real training patches
   (linked) plus r·N_i synthetic ones per class (`synthetic-<class>__<index>.png`, so
   their patient id is `synthetic-<class>`), val and test linked, `dataset.json` with the
   counts. With `data.tfds` the real examples have no files: the training split as
   trained on (e.g. its `data.max_train_patients` examples) and the whole val and test
   splits are first written as PNGs into `workdir/tfds_data/`, a DATA_ROOT of its own
   (`write_tfds_root`), and linked from there. Arms: `unselected` (the first r·N_i
   generated), `entropy_only` (the r·N_i of lowest MC entropy), `centroid_only` (the
   r·N_i nearest the centroid) and `selective` (both filters, the paper's method).
   `python -m trainers.augment_eval` trains classifiers on them. Generation and
   selection run on the chief only.
5. Figures: per-epoch class × sample grids of every stage (`samples/`), the FID curve, and
   a t-SNE of real and synthetic features before and after selection (`tsne.png`).
The chosen generator is also saved as `model.keras`, the file `serving.export` reads.
"""

import hashlib
import os
import shutil

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from kerasg2c import json_files
from kerasg2c.augment import selective
from kerasg2c.augment.feature_extractor import MCDropoutExtractor
from kerasg2c.data import decode, layout, pipeline
from kerasg2c.errors import UserError
from kerasg2c.evaluation import frechet, model_selection, plots, samples
from kerasg2c.jobs import classifier_job, reporting, shared_config, splits, train_settings
from kerasg2c.models.histogan import PENALTY_BATCHES, HistoGAN
from kerasg2c.models.histogan_critic import CRITIC_NORMS, HistoGANCritic
from kerasg2c.models.histogan_generator import HistoGANGenerator
from kerasg2c.training import loop

ARMS = ("unselected", "entropy_only", "centroid_only", "selective")
SYNTHETIC = "synthetic"
TFDS_DATA = "tfds_data"  # workdir/tfds_data/: a data.tfds run's real examples as PNGs
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check(config) -> None:
    """Refuses bad values of HistoGAN's keys, the shared ones and (when it is trained here)
    the feature extractor stage's, naming the key."""
    shared_config.check_shared(config)
    h = "histogan."
    shared_config.require_positive(
        config,
        *(h + k for k in ("noise_dim", "channels", "n_stages", "n_critic", "fid_samples")),
        *(h + k for k in ("minibatch_kernels", "mc_passes", "gp_weight", "ratio")),
        "optimizer.learning_rate",
    )
    shared_config.require_positive(
        config,
        h + "res_blocks",
        h + "fid_warmup_epochs",
        "data.max_train_patients",
        allow_zero=True,
    )
    shared_config.require_choice(config, h + "critic_norm", CRITIC_NORMS)
    shared_config.require_choice(config, h + "penalty_batch", PENALTY_BATCHES)
    for key in ("ema_alpha", "mc_dropout"):
        shared_config.require_fraction(config, h + key)
    for key in ("beta_1", "beta_2"):
        shared_config.require_fraction(config, "optimizer." + key)
    base_shape(config)
    if not config.histogan.feature_extractor:
        classifier_job.check(config, prefix="feature_extractor.")


def base_shape(config) -> tuple[int, int]:
    """The generator's base_shape (height, width) for images of `shared_config.image_shape`
    (`data.image_height` × `data.image_size`, square when image_height is 0) after
    `histogan.n_stages` stages (stage 1 is 16 × base, each later stage doubles it)."""
    stages = config.histogan.n_stages
    factor = 16 * 2 ** (stages - 1)
    height, width = shared_config.image_shape(config)
    sizes = {"data.image_size": width}
    if config.data.image_height:
        sizes = {"data.image_height": height, **sizes}
    for key, size in sizes.items():
        if size % factor:
            nearest = factor * max(1, round(size / factor))
            raise UserError(
                f"config key {key}={size}: a {stages}-stage HistoGAN makes images whose "
                f"height and width are multiples of {factor} pixels (16 × 2^(n_stages − 1)), "
                f"e.g. {nearest}"
            )
    return height // factor, width // factor


def build_model(config, num_classes: int) -> HistoGAN:
    """Generator and critics of the `histogan.*` keys, every variable created, compiled
    with Adam for each (`optimizer.*`)."""
    h = config.histogan
    if min(base_shape(config)) < 2:
        logging.warning(
            "the generator's base is %s pixels (data.image_size / (16 · 2^(n_stages − 1))): "
            "from a 1-pixel side, stage 1's layout along it comes only from the convolutions' "
            "zero padding; use fewer histogan.n_stages or larger images "
            "(the paper's smallest base is 4 × 2)",
            "×".join(map(str, base_shape(config))),
        )
    generator = HistoGANGenerator(
        num_classes,
        noise_dim=h.noise_dim,
        base_shape=base_shape(config),
        channels=h.channels,
        n_stages=h.n_stages,
        res_blocks=h.res_blocks,
        name="generator",
    )
    base = min(base_shape(config))
    critics = [
        HistoGANCritic(
            num_classes,
            channels=h.channels,
            # Four 4×4 stride-2 down-samplings (paper §4.2.1), fewer on a small stage so
            # that its attention still sees at least 2 × 2 positions.
            n_down=min(4, int(np.log2(base * 16 * 2**k)) - 1),
            critic_norm=h.critic_norm,
            minibatch_kernels=h.minibatch_kernels,
            name=f"critic{k + 1}",
        )
        for k in range(h.n_stages)
    ]
    model = HistoGAN(
        generator,
        critics,
        num_classes,
        h.noise_dim,
        n_critic=h.n_critic,
        gp_weight=h.gp_weight,
        penalty_batch=h.penalty_batch,
        seed=config.seed,
    )
    model(tf.zeros((1,), tf.int32))
    o = config.optimizer

    def adam():
        return keras.optimizers.Adam(o.learning_rate, beta_1=o.beta_1, beta_2=o.beta_2)

    model.compile(adam(), adam())
    return model


def feature_extractor(config, context):
    """The trained classifier of step 1 (trained here first when needed)."""
    given = config.histogan.feature_extractor
    folder = given or os.path.join(context.workdir, "feature_extractor")
    path = os.path.join(folder, "model.keras")
    if not os.path.exists(path):
        if given:
            raise UserError(f"config key histogan.feature_extractor: no model.keras in {given}")
        stage = config.feature_extractor
        stage.workdir, stage.seed = folder, config.seed
        stage.data.root = context.data_root or ""  # None with data.tfds
        copied = ("tfds", "tfds_data_dir", "image_size", "image_height", "strict", "max_pixels")
        for key in (*copied, "max_train_patients"):
            stage.data[key] = config.data[key]
        with context.stage(stage) as stage_context:
            classifier_job.train_and_evaluate(stage, stage_context)
    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)

    return keras.saving.load_model(path, compile=False)


class FIDSelection:
    """Step 3: scores the generator after each epoch past the warm-up and keeps the one of
    lowest EMA-smoothed FID; its state (`fid.json`) survives a resume."""

    def __init__(self, config, workdir, extractor, train_split, real_images):
        h = config.histogan
        self.warmup, self.alpha, self.workdir = h.fid_warmup_epochs, h.ema_alpha, workdir
        self.extractor, self.batch = extractor, config.train.batch_size
        self.state_path = os.path.join(workdir, "fid.json")
        self.best_path = os.path.join(workdir, "best_generator.keras")
        self.state = json_files.read_object(self.state_path, {"fid": {}})
        rng = np.random.default_rng(config.seed)
        self.labels = rng.choice(train_split.labels, h.fid_samples, replace=True)
        self.noise = rng.standard_normal((h.fid_samples, h.noise_dim)).astype(np.float32)
        self.real = frechet.feature_statistics(extractor.features, real_images, self.batch)

    @property
    def fid(self) -> dict:
        return {int(k): v for k, v in self.state["fid"].items()}

    def generate(self, generator):
        return np.concatenate(
            [
                generator.generate(self.labels[i : i + self.batch], self.noise[i : i + self.batch])
                for i in range(0, len(self.labels), self.batch)
            ]
        )

    def __call__(self, epoch, generator, chief) -> dict:
        """After epoch `epoch` (1-based): {} during the warm-up, else this epoch's FID and
        its smoothed value; saves the generator when it is the new best."""
        if epoch <= self.warmup:
            return {}
        fake = frechet.feature_statistics(self.extractor.features, self.generate(generator))
        fid = frechet.frechet_distance_from_statistics(*self.real, *fake)
        self.state["fid"][str(epoch)] = float(fid)
        best, smoothed = model_selection.select_epoch(self.fid, self.warmup, self.alpha)
        if chief:
            if best == epoch:
                generator.save(self.best_path)
            json_files.write(self.state_path, self.state)
        return {"fid": float(fid), "fid_smoothed": float(smoothed[epoch])}


def sample_grid(model, classes, workdir, epoch, step, per_class=6) -> None:
    """A class × sample grid of every stage's images (fixed noise), `samples/`."""
    n = len(classes)
    labels = np.repeat(np.arange(n, dtype=np.int32), per_class)
    noise = np.random.default_rng(0).standard_normal((len(labels), model.noise_dim))
    stages = model.generator((noise.astype(np.float32), labels), training=False)
    shape = tuple(stages[-1].shape[1:3])  # (height, width) of the last stage
    for k, images in enumerate(stages):
        images = tf.image.resize(images, shape, method="nearest").numpy()
        titles = [classes[i] if j == 0 else "" for i in range(n) for j in range(per_class)]
        name = f"stage{k + 1}_epoch{epoch:03d}"
        samples.write_image_grid(workdir, name, images, step, titles, columns=per_class)


def class_generator(generator, label: int, noise_dim: int, seed: int):
    """generate_fn for `selective.select_class`: image j of class `label` is a pure
    function of (seed, label, j)."""

    def generate(indices):
        noise = np.stack(
            [
                np.random.default_rng([seed, label, int(j)]).standard_normal(noise_dim)
                for j in indices
            ]
        ).astype(np.float32)
        labels = np.full(len(indices), label, np.int32)
        return generator.generate(labels, noise).numpy()

    return generate


def arm_indices(selection: selective.Selection, keep: int) -> dict:
    """Indices into the class's generated images kept by each arm."""
    return {
        "unselected": np.arange(keep),
        "entropy_only": np.sort(np.argsort(selection.entropy, kind="stable")[:keep]),
        "centroid_only": np.sort(np.argsort(selection.distance, kind="stable")[:keep]),
        "selective": selection.indices,
    }


def write_augmented_roots(config, context, loaded: dict, synthetic: dict, counts: dict) -> dict:
    """One DATA_ROOT per arm: real training files and val/test linked (from the run's
    DATA_ROOT, or with data.tfds from `workdir/tfds_data/`, see `real_data_root`), the
    arm's synthetic PNGs linked from `workdir/synthetic/`; returns {arm: root}.

    Args:
      loaded: {"train", "val", "test"} splits as the job read them (`splits.load_splits`);
        the training split is the one trained on.
    """
    train = loaded["train"]
    data_root, train_paths = real_data_root(config, context, loaded)
    info = layout.read_dataset_info(data_root)
    roots = {}
    for arm in ARMS:
        root = os.path.join(context.workdir, "augmented", arm)
        for split in ("val", "test"):
            paths, labels, _ = layout.list_labeled(data_root, split, info.classes)
            _link_all(paths, labels, info.classes, os.path.join(root, "labeled", split))
        train_dir = os.path.join(root, "labeled", "train")
        _link_all(train_paths, train.labels, info.classes, train_dir)
        for label, files in synthetic[arm].items():
            _link_all(files, [label] * len(files), info.classes, train_dir)
        json_files.write(
            os.path.join(root, "dataset.json"),
            {
                "source_stain": info.source_stain,
                "stains": [info.source_stain],
                "classes": list(info.classes),
                SYNTHETIC: {
                    "arm": arm,
                    "files": f"labeled/train/<class>/{SYNTHETIC}-<class>__<index>.png",
                    "per_class": {info.classes[c]: n for c, n in counts[arm].items()},
                },
            },
        )
        roots[arm] = root
    return roots


def real_data_root(config, context, loaded: dict) -> tuple[str, list[str]]:
    """(the DATA_ROOT of the real examples, the training split's files in split order).

    Files (a DATA_ROOT or the phantoms): `context.data_root` and the split's own paths.
    Examples without files (data.tfds, paths ''): the splits written as PNGs into
    `workdir/tfds_data/` by `write_tfds_root`.
    """
    train = loaded["train"]
    if all(train.paths) and context.data_root is not None:
        return context.data_root, list(train.paths)
    if all(train.paths):
        raise UserError(
            "the training split has files but the run has no DATA_ROOT to list val and test "
            "from (data.root, or phantoms when data.root and data.tfds are empty)"
        )
    folder = os.path.join(context.workdir, TFDS_DATA)
    return folder, write_tfds_root(folder, loaded, config.data.tfds)


def write_tfds_root(folder, loaded: dict, name: str) -> list[str]:
    """Writes splits whose examples have no files (TFDS) as a DATA_ROOT in `folder`, once.

    `folder/labeled/<split>/<class>/<patient>__<position>.png` for every example of the
    "train", "val" and "test" splits in `loaded` (so `layout.patient_id` gives the split's
    own patient ids: TFDS's `<split>_<index>`), at the size stored; an encoded PNG is
    written byte for byte, anything else is decoded as the pipeline decodes it and saved
    as an 8-bit RGB PNG. `folder/dataset.json` lists the classes and, under "tfds", the
    dataset name and each split's count and a hash of its patients. Written into
    `folder.partial` and renamed when complete; a later call with the same examples
    reuses it (a resumed run).

    Returns:
      The training split's files, in split order.

    Raises:
      UserError: a split is missing, the splits' classes differ, a split stacks stain
        views (not one RGB image per example), or `folder` holds other examples.
    """
    missing = [s for s in splits.SPLITS if s not in loaded]
    if missing:
        raise UserError(
            f"{folder}: writing the real examples as PNGs needs the train, val and test "
            f"splits; {missing} not given"
        )
    classes = loaded["train"].classes
    for s in splits.SPLITS:
        split = loaded[s]
        if split.classes != classes:
            raise UserError(
                f"{folder}: the {s} split's classes {list(split.classes)} differ from the "
                f"training split's {list(classes)}"
            )
        if split.views:
            raise UserError(
                f"{folder}: the {s} split stacks stain views per example; only one RGB "
                "image per example can be written as a PNG"
            )
    names = {
        s: [
            os.path.join("labeled", s, classes[int(label)], f"{patient}__{i:06d}.png")
            for i, (label, patient) in enumerate(zip(loaded[s].labels, loaded[s].patients))
        ]
        for s in splits.SPLITS
    }
    expected = {
        "name": name,
        "splits": {
            s: {
                "examples": len(loaded[s]),
                "patients_sha256": hashlib.sha256(
                    "\n".join(loaded[s].patients).encode()
                ).hexdigest(),
            }
            for s in splits.SPLITS
        },
    }
    meta = os.path.join(folder, "dataset.json")
    if os.path.exists(meta):
        written = json_files.read_object(meta).get("tfds")
        if written != expected:
            raise UserError(
                f"{folder} holds other examples than this run's (written for {written}, now "
                f"{expected}; e.g. another data.tfds, data.max_train_patients or seed): use "
                f"another workdir, or delete {folder}"
            )
        logging.info("real examples already written as PNGs in %s", folder)
    elif os.path.exists(folder):
        raise UserError(
            f"{folder} exists without dataset.json: not a folder this job wrote; move it away"
        )
    else:
        partial = folder + ".partial"
        shutil.rmtree(partial, ignore_errors=True)  # an interrupted earlier attempt
        for s in splits.SPLITS:
            _write_pngs(loaded[s], [os.path.join(partial, n) for n in names[s]])
            logging.info("%s split: %d PNGs written to %s", s, len(loaded[s]), folder)
        json_files.write(
            os.path.join(partial, "dataset.json"), {"classes": list(classes), "tfds": expected}
        )
        os.rename(partial, folder)
    return [os.path.join(folder, n) for n in names["train"]]


def _write_pngs(split, paths) -> None:
    """Example i of `split` (from its source, in order) into `paths[i]`, as PNG bytes."""
    source = split.source
    keys_are_bytes = source.decode_fn is decode.decode_image_bytes

    def as_png(key, label):
        def encode():
            image = tf.clip_by_value(source.decode_fn(key), 0.0, 1.0)
            return tf.io.encode_png(tf.cast(tf.round(image * 255.0), tf.uint8))

        if not keys_are_bytes:
            return encode()
        is_png = tf.equal(tf.strings.substr(key, 0, len(_PNG_MAGIC)), _PNG_MAGIC)
        return tf.cond(is_png, lambda: key, encode)

    encoded = source.keys.map(as_png, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    count = 0
    for path, data in zip(paths, encoded.prefetch(tf.data.AUTOTUNE).as_numpy_iterator()):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        count += 1
    if count != len(paths):
        raise UserError(
            f"the {split.name} split's source gave {count} examples, its labels {len(paths)}"
        )


def _link_all(paths, labels, classes, folder) -> None:
    for path, label in zip(paths, labels):
        target = os.path.join(folder, classes[int(label)], os.path.basename(path))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.path.abspath(path), target)


def augment(config, context, model, extractor, loaded, real_images) -> dict:
    """Step 4 for every class; returns the report's "selection" entry. `loaded`: the
    job's {"train", "val", "test"} splits."""
    train = loaded["train"]
    h, classes = config.histogan, train.classes
    generator = model.generator
    synthetic_dir = os.path.join(context.workdir, SYNTHETIC)
    synthetic = {arm: {} for arm in ARMS}
    counts = {arm: {} for arm in ARMS}
    features = {"real": [], "generated": [], "selective": []}
    per_class = {}
    for label, name in enumerate(classes):
        real = real_images[train.labels == label]
        if len(real) == 0:
            raise UserError(f"class {name!r} has no training image to augment")
        generate = class_generator(generator, label, h.noise_dim, config.seed)
        selection = selective.select_class(
            generate,
            extractor.predict,
            extractor.layers,
            real,
            len(real),
            r=h.ratio,
            passes=h.mc_passes,
            batch_size=config.train.batch_size,
        )
        keep = len(selection.indices)
        arms = arm_indices(selection, keep)
        wanted = np.unique(np.concatenate(list(arms.values())))
        files = {}
        for start in range(0, len(wanted), config.train.batch_size):
            chunk = wanted[start : start + config.train.batch_size]
            for j, image in zip(chunk, generate(chunk)):
                path = os.path.join(synthetic_dir, name, f"{SYNTHETIC}-{name}__{j:05d}.png")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)
                files[int(j)] = path
        for arm, indices in arms.items():
            synthetic[arm][label] = [files[int(j)] for j in indices]
            counts[arm][label] = len(indices)
        features["real"].append(extractor.features(real))
        generated = np.concatenate(
            [generate(np.arange(s, min(s + 64, 4 * keep))) for s in range(0, 4 * keep, 64)]
        )
        gen_features = extractor.features(generated)
        features["generated"].append((gen_features, label))
        features["selective"].append((gen_features[selection.indices], label))
        per_class[name] = {
            "real": int(len(real)),
            "generated": int(4 * keep),
            "kept": keep,
            "mean_entropy": {a: float(selection.entropy[i].mean()) for a, i in arms.items()},
            "mean_distance": {a: float(selection.distance[i].mean()) for a, i in arms.items()},
        }
    roots = write_augmented_roots(config, context, loaded, synthetic, counts)
    plot_tsne(features, train, classes, os.path.join(context.workdir, "tsne.png"), config.seed)
    return {"per_class": per_class, "roots": roots}


def plot_tsne(features, train, classes, path, seed) -> None:
    """t-SNE (scikit-learn) of real and synthetic features: all generated images (left)
    and the selected ones (right); colour = class, ● real, × synthetic."""
    from sklearn.manifold import TSNE

    real = np.concatenate(features["real"])
    real_labels = np.concatenate([train.labels[train.labels == c] for c in range(len(classes))])
    panels = []
    for key in ("generated", "selective"):
        fake = np.concatenate([f for f, _ in features[key]])
        fake_labels = np.concatenate([np.full(len(f), c) for f, c in features[key]])
        both = np.concatenate([real, fake])
        perplexity = max(2.0, min(30.0, (len(both) - 1) / 3))
        points = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(both)
        panels.append((key, points[: len(real)], points[len(real) :], fake_labels))
    plots.save_tsne_panels(panels, real_labels, classes, path)


def train_and_evaluate(config, context) -> dict:
    """Steps 1–5, then `report.json`."""
    keras.utils.set_random_seed(config.seed)
    h = config.histogan
    extractor_model = feature_extractor(config, context)
    extractor = MCDropoutExtractor(extractor_model, rate=h.mc_dropout, seed=config.seed)
    loaded = splits.load_splits(config, context)
    train = loaded["train"]
    size = shared_config.image_shape(config)  # (height, width)
    replicas = context.strategy.num_replicas_in_sync
    if config.train.batch_size % replicas:
        raise UserError(
            f"config key train.batch_size={config.train.batch_size}: must divide over the "
            f"{replicas} replicas"
        )
    batch = h.n_critic * config.train.batch_size  # n_critic sub-batches per step
    keys = ("train.batch_size", "histogan.n_critic")  # a smaller split is repeated
    spe = train_settings.steps_per_epoch(config, len(train), "the training split", keys)
    # Whether the extractor was trained above or loaded, HistoGAN starts from the same weights.
    keras.utils.set_random_seed(config.seed)
    with context.strategy.scope():
        model = build_model(config, len(train.classes))
    real_images = pipeline.load_images(train, size)
    selection = FIDSelection(config, context.workdir, extractor, train, real_images)

    def make_dataset(epoch, skip):
        return train.dataset(
            batch_size=batch,
            image_size=size,
            training=True,
            seed=config.seed,
            epoch=epoch,
            skip_batches=skip,
            augment=config.data.augment,
            repeat_to=spe * batch,
        )

    def on_epoch_end(epoch):
        if context.chief:
            sample_grid(model, train.classes, context.workdir, epoch + 1, (epoch + 1) * spe)
        return selection(epoch + 1, model.generator, context.chief)

    history = loop.fit(
        model,
        make_dataset,
        strategy=context.strategy,
        workdir=context.workdir,
        settings=train_settings.loop_settings(config, spe),
        on_epoch_end=on_epoch_end,
    )
    fid = selection.fid
    if fid:
        chosen, smoothed = model_selection.select_epoch(fid, h.fid_warmup_epochs, h.ema_alpha)
        model.generator.set_weights(keras.saving.load_model(selection.best_path).get_weights())
    else:
        logging.warning(
            "train.epochs=%d ≤ histogan.fid_warmup_epochs=%d: no epoch was scored; the last "
            "generator is used",
            config.train.epochs,
            h.fid_warmup_epochs,
        )
        chosen, smoothed = config.train.epochs, {}
        if context.chief:
            model.generator.save(selection.best_path)
    if context.chief and fid:
        model_selection.plot_fid_curve(
            fid,
            smoothed,
            chosen,
            os.path.join(context.workdir, "fid_curve.png"),
            h.fid_warmup_epochs,
        )
    if not context.chief:  # generation and selection run once, on the chief
        return {}
    model.generator.save(os.path.join(context.workdir, "model.keras"))  # what serving exports
    report = {
        "trainer": "histogan",
        "classes": list(train.classes),
        "data": reporting.data_summary(loaded),
        "history": history,
        "fid": {str(k): v for k, v in fid.items()},
        "fid_smoothed": {str(k): v for k, v in smoothed.items()},
        "chosen_epoch": int(chosen),
        "selection": augment(config, context, model, extractor, loaded, real_images),
    }
    reporting.write_report(context.workdir, report)
    return report
