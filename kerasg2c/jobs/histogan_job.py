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

Step 3 lives in `histogan_selection_step`, step 4 in `histogan_augment_step` (its real
examples in `histogan_real_data`); this module builds the model and runs the steps.
"""

import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kerasg2c.augment.feature_extractor import MCDropoutExtractor
from kerasg2c.data import pipeline
from kerasg2c.errors import UserError
from kerasg2c.jobs import (
    classifier_job,
    histogan_pool,
    reporting,
    shared_config,
    splits,
    train_settings,
)
from kerasg2c.jobs.histogan_augment_step import (  # noqa: F401  (public here too)
    ARMS,
    SYNTHETIC,
    augment,
    class_generator,
    write_augmented_roots,
)
from kerasg2c.jobs.histogan_real_data import (  # noqa: F401  (public here too)
    TFDS_DATA,
    real_data_root,
    write_tfds_root,
)
from kerasg2c.jobs.histogan_selection_step import FIDSelection, choose_generator, sample_grid
from kerasg2c.models.histogan import PENALTY_BATCHES, HistoGAN
from kerasg2c.models.histogan_critic import CRITIC_NORMS, HistoGANCritic
from kerasg2c.models.histogan_generator import HistoGANGenerator
from kerasg2c.training import loop


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
    shared_config.require_choice(config, h + "synthetic_source", histogan_pool.SOURCES)
    shared_config.require_fraction(config, h + "off_class_share")
    if config.histogan.synthetic_source == "held_out" and not config.data.max_train_patients:
        raise UserError(
            "config key histogan.synthetic_source=held_out: the candidates are the training "
            "patients data.max_train_patients leaves out; set data.max_train_patients"
        )
    if config.histogan.off_class_share and config.histogan.synthetic_source != "held_out":
        raise UserError(
            "config key histogan.off_class_share: a known off-class share needs "
            "histogan.synthetic_source=held_out (a generator's share is unknown)"
        )
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


def train_and_evaluate(config, context) -> dict:
    """Steps 1–5, then `report.json`."""
    keras.utils.set_random_seed(config.seed)
    h = config.histogan
    extractor_model = feature_extractor(config, context)
    extractor = MCDropoutExtractor(extractor_model, rate=h.mc_dropout, seed=config.seed)
    loaded = splits.load_splits(config, context)
    train = loaded["train"]
    size = context.images.shape  # (height, width), resolved once for the run
    real_images = pipeline.load_images(train, size)
    if h.synthetic_source == "held_out":
        return histogan_pool.held_out_report(config, context, extractor, loaded, real_images)
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
    selection = FIDSelection(config, context.workdir, extractor, train, real_images)

    make_dataset = train_settings.epoch_reader(
        config, train.dataset, batch_size=batch, steps_per_epoch=spe, image_size=size, training=True
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
    chosen, smoothed = choose_generator(config, model, selection, context.chief)
    if not context.chief:  # generation and selection run once, on the chief
        return {}
    model.generator.save(os.path.join(context.workdir, "model.keras"))  # what serving exports

    def candidates(label):
        return class_generator(model.generator, label, h.noise_dim, config.seed), None

    report = {
        "trainer": "histogan",
        "synthetic_source": h.synthetic_source,
        "classes": list(train.classes),
        "data": reporting.data_summary(loaded),
        "history": history,
        "fid": {str(k): v for k, v in fid.items()},
        "fid_smoothed": {str(k): v for k, v in smoothed.items()},
        "chosen_epoch": int(chosen),
        # The run's result for a sweep: the chosen generator's FID, raw and smoothed.
        "metrics": {"fid": fid.get(chosen), "fid_smoothed": smoothed.get(chosen)},
        "selection": augment(config, context, candidates, extractor, loaded, real_images),
    }
    reporting.write_report(context.workdir, report)
    return report
