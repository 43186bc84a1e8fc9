"""The classification job (`python -m trainers.classifier`): data → model → resumable
training → evaluation → report, for the stem-block ResNet here and for G2C through the
same `run` (`kerasg2c.jobs.g2c_job`). Its evaluation and report are
`kerasg2c.jobs.classifier_evaluation`'s; the image shape and cache budget are the run
context's (`context.images`, resolved once)."""

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kerasg2c.data import tasks
from kerasg2c.errors import UserError
from kerasg2c.evaluation import predict, samples
from kerasg2c.jobs import hierarchy_job, shared_config, splits, train_settings
from kerasg2c.jobs.classifier_evaluation import evaluate, write_results, write_task_predictions
from kerasg2c.losses.classification import LOSSES
from kerasg2c.models import branch
from kerasg2c.models.classifier import Classifier
from kerasg2c.training import loop, precise_bn


def branch_kwargs(model_config) -> dict:
    """The `model.*` keys of the classifier branch and its loss, as keyword arguments of
    `Classifier` and `G2C`."""
    m = model_config
    return dict(
        branch=m.branch,
        widths=m.widths,
        blocks_per_unit=m.blocks_per_unit,
        stem_width=m.stem_width,
        loss=m.loss,
        focal_gamma=m.focal_gamma,
    )


def build_model(config, num_classes: int, steps_per_epoch: int) -> Classifier:
    """The classifier, called once on a dummy batch so every variable exists,
    with its optimizer."""
    model = Classifier(
        num_classes,
        dropout_before_last_block=config.model.dropout_before_last_block,
        **branch_kwargs(config.model),
    )
    height, width = shared_config.image_shape(config)
    model(tf.zeros((1, height, width, 3)), training=False)
    model.optimizer = train_settings.make_optimizer(config.optimizer, steps_per_epoch)
    return model


def _sample_of(split, n=16):
    """`n` patches spread evenly over `split` (its files are ordered by class)."""
    return split.subset(np.unique(np.linspace(0, len(split) - 1, n).round().astype(int)))


def _predictions_grid(workdir, predictor, sample, image_shape, epoch, step) -> None:
    """The sample's patches, titled true → predicted class."""
    images, labels = next(iter(sample.dataset(batch_size=len(sample), image_size=image_shape)))
    predicted = predictor.forward(images).numpy().argmax(-1)
    titles = [
        f"{sample.classes[t]} → {sample.classes[p]}" for t, p in zip(labels.numpy(), predicted)
    ]
    samples.write_image_grid(  # the patch itself (the first three channels of stain views)
        workdir, f"{sample.name}_epoch{epoch + 1:03d}", images.numpy()[..., :3], step, titles
    )


def check(config, prefix: str = "") -> None:
    """Refuses bad values of the classifier's keys (and the shared ones), naming the key;
    `prefix`: where this config sits in the one given (HistoGAN's "feature_extractor.")."""
    p = prefix
    shared_config.check_shared(config, p)
    shared_config.require_choice(config, p + "model.branch", branch.BRANCHES)
    shared_config.require_choice(config, p + "model.loss", LOSSES)
    shared_config.require_positive(
        config, *(p + k for k in ("model.widths", "model.blocks_per_unit", "model.stem_width"))
    )
    shared_config.require_positive(config, p + "model.focal_gamma", allow_zero=True)
    if not 0.0 <= shared_config.value(config, p + "model.dropout_before_last_block") < 1.0:
        raise UserError(f"config key {p}model.dropout_before_last_block: must be in [0, 1)")
    shared_config.require_positive(config, p + "train.precise_bn_batches", allow_zero=True)
    shared_config.require_positive(config, p + "data.max_train_patients", allow_zero=True)
    shared_config.require_choice(config, p + "optimizer.name", train_settings.OPTIMIZERS)
    shared_config.require_positive(config, p + "optimizer.learning_rate")
    shared_config.require_positive(
        config, p + "optimizer.momentum", p + "optimizer.decay_every_epochs", allow_zero=True
    )
    shared_config.require_fraction(config, p + "optimizer.decay_factor")
    hierarchy = shared_config.value(config, p + "hierarchy")
    if hierarchy:
        hierarchy_job.parse(hierarchy)
        if shared_config.value(config, p + "data.tfds"):
            raise UserError(
                f"config key {p}hierarchy needs a DATA_ROOT whose dataset.json has tasks"
            )


def train_and_evaluate(config, context) -> dict:
    """Runs the whole job: data → training (resumable) → evaluation → report."""
    if config.hierarchy:
        return hierarchy_job.train_and_evaluate(config, context, train_and_evaluate)
    return run(config, context, "classifier", build_model)


def run(config, context, trainer: str, build, next_epoch=None, describe=None, prepare=None) -> dict:
    """Data → model → resumable training → evaluation → report, for any model
    with a `train_step`, `per_example_loss` and logits from `model(images)`.

    Args:
      config: the run's config.
      context: the run context (strategy, chief, workdir, data).
      trainer: its name in the report.
      build: (config, num_classes, steps_per_epoch) -> built, compiled model.
      next_epoch: optional (model, epoch) -> None, called before `epoch` (from 0)
        starts, e.g. a freeze schedule; state it changes must live in variables
        so that a resumed run gets it back from the checkpoint.
      describe: optional model -> dict added to the report.
      prepare: optional {split name: split} -> the same with each split changed, applied
        to the splits as read (e.g. G2C's stain oracle attaches the true stains).
    """
    keras.utils.set_random_seed(config.seed)
    strategy, chief, workdir = context.strategy, context.chief, context.workdir
    images = context.images  # the image shape and cache budget, resolved once
    full_splits = splits.load_splits(config, context)
    if prepare:
        full_splits = prepare(full_splits)
    run_splits = full_splits
    if config.data.task:  # e.g. s_vs_noa: classes become the task's groups
        groups = tasks.task_groups(splits.dataset_tasks(context), config.data.task)
        run_splits = {name: tasks.task_split(s, groups) for name, s in full_splits.items()}
    train, val = run_splits["train"], run_splits["val"]
    positive = None if config.data.task else splits.declared_positive_class(context, train.classes)
    # A split smaller than a batch is repeated: an epoch is then one batch.
    spe = train_settings.steps_per_epoch(config, len(train), "the training split")
    with strategy.scope():
        model = build(config, len(train.classes), spe)
    if next_epoch:
        next_epoch(model, 0)
    predictor = predict.Predictor(model, images.shape)
    val_sample = _sample_of(val)

    train_cache = images.use_cache(train)

    make_dataset = train_settings.epoch_reader(
        config,
        train.dataset,
        batch_size=config.train.batch_size,
        steps_per_epoch=spe,
        image_size=images.shape,
        training=True,
        cache=train_cache,
    )

    calibration = BatchNormCalibration(model, train, val, config, strategy, images)

    def on_epoch_end(epoch):
        if next_epoch:
            next_epoch(model, epoch + 1)
        extra = calibration()
        metrics, _ = evaluate(model, predictor, val, config, images)
        if chief:
            step = (epoch + 1) * spe
            _predictions_grid(workdir, predictor, val_sample, images.shape, epoch, step)
        return {
            "val_loss": metrics["loss"],
            "val_accuracy": metrics["accuracy"],
            "val_balanced_accuracy": metrics["balanced_accuracy"],
            **extra,
        }

    settings = train_settings.loop_settings(config, spe)
    history = loop.fit(
        model,
        make_dataset,
        strategy=strategy,
        workdir=workdir,
        settings=settings,
        on_epoch_end=on_epoch_end,
    )
    if not calibration.calls:  # nothing trained in this process: a resumed, finished run
        calibration()
    if not chief:
        return {}
    extra = describe(model) if describe else {}
    extra["precise_bn_batches"] = calibration.batches
    if config.data.task:
        extra["task"] = config.data.task
        write_task_predictions(config, images, workdir, predictor, full_splits, train.classes)
    return write_results(
        config, images, trainer, workdir, model, predictor, run_splits, history, extra, positive
    )


class BatchNormCalibration:
    """Precise batch-norm statistics before an evaluation (`training.precise_bn`): over
    up to `train.precise_bn_batches` shuffled, unaugmented training batches (0 = off).
    Each call returns, for the history, how often inference mode disagreed with batch
    statistics on validation batches before the recalibration, and warns when often.

    Args:
      model: the classifier.
      train: the training split (the recalibration's batches).
      val: the validation split (the disagreement's batches).
      config: the run's config (`train.*`, `seed`).
      strategy: the run's tf.distribute strategy.
      images: the run's resolved `ImageSettings`; each split's cache decision is made once,
        here.
    """

    WARN_ABOVE = 0.1

    def __init__(self, model, train, val, config, strategy, images):
        self.precise = precise_bn.PreciseBatchNorm(model, strategy)
        self.train, self.val, self.config = train, val, config
        self.image_shape = images.shape
        self.cache = {"train": images.use_cache(train), "val": images.use_cache(val)}
        self.calls, self.batches = 0, 0

    def _batches(self, name, n):
        split = self.train if name == "train" else self.val
        return split.dataset(
            batch_size=self.config.train.batch_size,
            image_size=self.image_shape,
            training=True,
            seed=self.config.seed,
            augment=False,
            cache=self.cache[name],
            repeat_to=self.config.train.batch_size,  # a split smaller than one batch
        ).take(n)

    def __call__(self) -> dict:
        self.calls += 1
        n = self.config.train.precise_bn_batches
        if not n:
            return {}
        differ = self.precise.disagreement(self._batches("val", n))
        self.batches = self.precise.recompute(self._batches("train", n))
        if differ is None:
            return {}
        if differ > self.WARN_ABOVE:
            logging.warning(
                "inference mode disagreed with batch statistics on %.0f%% of validation "
                "patches before batch-norm statistics were recomputed",
                100 * differ,
            )
        return {"val_bn_disagreement_before": differ}
