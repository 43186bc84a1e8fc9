"""Trains and evaluates a patch classifier (`trainers.classifier`): the
stem-block ResNet here, G2C through the same `run` (`kerasg2c.runs.g2c`)."""

import csv
import os

import numpy as np
import tensorflow as tf
from absl import logging

from kerasg2c.data import tasks
from kerasg2c.evaluation import classification, plots, predict
from kerasg2c.models.classifier import Classifier
from kerasg2c.runs import common, hierarchy
from kerasg2c.training import loop, runtime, samples


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
    model = Classifier(num_classes, **branch_kwargs(config.model))
    size = config.data.image_size
    model(tf.zeros((1, size, size, 3)), training=False)
    model.optimizer = common.make_optimizer(config.optimizer, steps_per_epoch)
    return model


def _logits(predictor, split, config) -> tuple[np.ndarray, np.ndarray]:
    """(logits [N, C], labels [N]) on a split (images in [0, 1], file order)."""
    ds = split.dataset(
        batch_size=config.train.batch_size,
        image_size=config.data.image_size,
        cache=common.use_cache(config, split),
    )
    return predictor.logits(ds)


def evaluate(model, predictor, split, config) -> tuple[dict, np.ndarray]:
    """(metrics with the mean loss, logits [N, C]) on a split."""
    logits, labels = _logits(predictor, split, config)
    result = classification.classification_metrics(
        labels, logits.argmax(-1), split.classes, split.patients
    )
    result["loss"] = float(np.mean(model.per_example_loss(labels, logits)))
    return result, logits


def write_predictions(path, split, logits, output_classes=None) -> None:
    """One CSV row per patch: file, patient, true class, predicted class, probabilities
    (what per-patch figures and later stages read). `output_classes`: the model's
    classes when they are not the split's (a task model on every patch)."""
    output_classes = output_classes or split.classes
    probabilities = np.asarray(tf.nn.softmax(logits))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "patient", "label", "predicted", *output_classes])
        for path_, patient, label, p in zip(
            split.paths, split.patients, split.labels, probabilities
        ):
            writer.writerow(
                [
                    path_,
                    patient,
                    split.classes[label],
                    output_classes[p.argmax()],
                    *(f"{v:.6f}" for v in p),
                ]
            )


def _sample_of(split, n=16):
    """`n` patches spread evenly over `split` (its files are ordered by class)."""
    return split.subset(np.unique(np.linspace(0, len(split) - 1, n).round().astype(int)))


def _predictions_grid(workdir, predictor, sample, config, epoch, step) -> None:
    """The sample's patches, titled true → predicted class."""
    images, labels = next(
        iter(sample.dataset(batch_size=len(sample), image_size=config.data.image_size))
    )
    predicted = predictor.forward(images).numpy().argmax(-1)
    titles = [
        f"{sample.classes[t]} → {sample.classes[p]}" for t, p in zip(labels.numpy(), predicted)
    ]
    samples.write_image_grid(
        workdir, f"{sample.name}_epoch{epoch + 1:03d}", images.numpy(), step, titles
    )


def train_and_evaluate(config) -> dict:
    """Runs the whole job: data → training (resumable) → evaluation → report."""
    if config.hierarchy:
        return hierarchy.train_and_evaluate(config, train_and_evaluate)
    return run(config, "classifier", build_model)


def run(config, trainer: str, build, next_epoch=None, describe=None) -> dict:
    """Data → model → resumable training → evaluation → report, for any model
    with a `train_step`, `per_example_loss` and logits from `model(images)`.

    Args:
      config: the run's config.
      trainer: its name in the report.
      build: (config, num_classes, steps_per_epoch) -> built, compiled model.
      next_epoch: optional (model, epoch) -> None, called before `epoch` (from 0)
        starts, e.g. a freeze schedule; state it changes must live in variables
        so that a resumed run gets it back from the checkpoint.
      describe: optional model -> dict added to the report.
    """
    strategy = runtime.configure(config.train, config.seed)
    chief = runtime.is_chief(strategy)
    workdir = common.prepare_workdir(config, chief)
    full_splits = common.load_splits(config, workdir, strategy)
    splits = full_splits
    if config.data.task:  # e.g. s_vs_noa: classes become the task's groups
        groups = tasks.task_groups(
            common.dataset_tasks(config, workdir, strategy), config.data.task
        )
        splits = {name: tasks.task_split(s, groups) for name, s in full_splits.items()}
    train, val = splits["train"], splits["val"]
    spe = common.steps_per_epoch(config, train)
    with strategy.scope():
        model = build(config, len(train.classes), spe)
    if next_epoch:
        next_epoch(model, 0)
    predictor = predict.Predictor(model, config.data.image_size)
    val_sample = _sample_of(val)

    def make_dataset(epoch, skip):
        return train.dataset(
            batch_size=config.train.batch_size,
            image_size=config.data.image_size,
            training=True,
            seed=config.seed,
            epoch=epoch,
            skip_batches=skip,
            augment=config.data.augment,
            cache=common.use_cache(config, train),
        )

    def on_epoch_end(epoch):
        if next_epoch:
            next_epoch(model, epoch + 1)
        metrics, _ = evaluate(model, predictor, val, config)
        if chief:
            _predictions_grid(workdir, predictor, val_sample, config, epoch, (epoch + 1) * spe)
        return {
            "val_loss": metrics["loss"],
            "val_accuracy": metrics["accuracy"],
            "val_balanced_accuracy": metrics["balanced_accuracy"],
        }

    settings = common.loop_settings(config, spe)
    history = loop.fit(
        model,
        make_dataset,
        strategy=strategy,
        workdir=workdir,
        settings=settings,
        on_epoch_end=on_epoch_end,
    )
    if not chief:
        return {}
    extra = describe(model) if describe else {}
    if config.data.task:
        extra["task"] = config.data.task
        _write_task_predictions(config, workdir, predictor, full_splits, train.classes)
    return _write_results(config, trainer, workdir, model, predictor, splits, history, extra)


def _write_task_predictions(config, workdir, predictor, full_splits, task_classes) -> None:
    """`predictions_{val,test}_all.csv`: a task model's answer on every patch of the
    split, each with its original class (what the hierarchical evaluation reads)."""
    for name in ("val", "test"):
        logits, _ = _logits(predictor, full_splits[name], config)
        path = os.path.join(workdir, f"predictions_{name}_all.csv")
        write_predictions(path, full_splits[name], logits, task_classes)


def _write_results(config, trainer, workdir, model, predictor, splits, history, extra) -> dict:
    """Final evaluation on every split, weights, figures and report.json."""
    results = {}
    for name, split in splits.items():
        results[name], logits = evaluate(model, predictor, split, config)
        if name != "train":
            write_predictions(os.path.join(workdir, f"predictions_{name}.csv"), split, logits)
    model.save_weights(os.path.join(workdir, "model.weights.h5"))
    model.save(os.path.join(workdir, "model.keras"))  # the whole model, for figures and export
    classes = splits["train"].classes
    plots.save_confusion_matrix(
        results["test"]["confusion_matrix"],
        classes,
        os.path.join(workdir, "confusion_matrix.png"),
        title=f"test, balanced accuracy {results['test']['balanced_accuracy']:.3f}",
    )
    plots.save_learning_curves(history, os.path.join(workdir, "learning_curves.png"))
    report = {
        "trainer": trainer,
        **extra,
        "classes": list(classes),
        "data": common.data_summary(splits),
        "metrics": results,
        # Paper Table 4: the gap between training and testing accuracy.
        "train_test_gap": results["train"]["accuracy"] - results["test"]["accuracy"],
        "train_images_per_second": float(np.mean([r["images_per_second"] for r in history]))
        if history
        else None,
        "history": history,
        "figures": ["confusion_matrix.png", "learning_curves.png"],
        "predictions": ["predictions_val.csv", "predictions_test.csv"],
    }
    path = common.write_report(workdir, report)
    logging.info(
        "test balanced accuracy %.3f (chance %.3f); report: %s",
        results["test"]["balanced_accuracy"],
        1 / len(classes),
        path,
    )
    return report
