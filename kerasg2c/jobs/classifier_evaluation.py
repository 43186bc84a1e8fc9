"""The classification job's evaluation (`classifier_job.run`): logits and metrics on a
split, and the final evaluation on every split with the files it writes (prediction
tables, weights, `model.keras`, figures, `report.json`).
"""

import os

import numpy as np
import tensorflow as tf
from absl import logging

from kerasg2c.evaluation import classification, plots, prediction_table
from kerasg2c.jobs import reporting


def split_logits(predictor, split, config, images) -> tuple[np.ndarray, np.ndarray]:
    """(logits [N, C], labels [N]) on a split (images in [0, 1], file order).

    Args:
      predictor: the model's `predict.Predictor`.
      split: a labeled split.
      config: the run's config (`train.batch_size`).
      images: the run's resolved `ImageSettings` (`context.images`).
    """
    ds = split.dataset(
        batch_size=config.train.batch_size,
        image_size=images.shape,
        cache=images.use_cache(split),
    )
    return predictor.logits(ds)


def evaluate(
    model, predictor, split, config, images, positive_class=None
) -> tuple[dict, np.ndarray]:
    """(metrics with the mean loss, logits [N, C]) on a split.

    Args:
      model: the classifier (its `per_example_loss`).
      predictor: the model's `predict.Predictor`.
      split: a labeled split.
      config: the run's config.
      images: the run's resolved `ImageSettings` (`context.images`).
      positive_class: the positive class's name for two-class sensitivity and AUC (None =
        the second class).
    """
    logits, labels = split_logits(predictor, split, config, images)
    result = classification.classification_metrics(
        labels,
        logits.argmax(-1),
        split.classes,
        split.patients,
        probabilities=tf.nn.softmax(logits).numpy(),
        positive_class=positive_class,
    )
    result["loss"] = float(np.mean(model.per_example_loss(labels, logits)))
    return result, logits


def write_task_predictions(config, images, workdir, predictor, full_splits, task_classes) -> None:
    """`predictions_{val,test}_all.csv`: a task model's answer on every patch of the
    split, each with its original class (what the hierarchical evaluation reads).

    Args:
      config: the run's config.
      images: the run's resolved `ImageSettings`.
      workdir: the folder the files go into.
      predictor: the model's `predict.Predictor`.
      full_splits: {"val", "test", ...} splits of every class, as read.
      task_classes: the task's classes (the model's outputs).
    """
    for name in ("val", "test"):
        logits, _ = split_logits(predictor, full_splits[name], config, images)
        path = os.path.join(workdir, f"predictions_{name}_all.csv")
        prediction_table.write_predictions(path, full_splits[name], logits, task_classes)


def write_results(
    config, images, trainer, workdir, model, predictor, splits, history, extra, positive_class
) -> dict:
    """Final evaluation on every split, weights, figures and report.json; returns the report.

    Args:
      config: the run's config.
      images: the run's resolved `ImageSettings`.
      trainer: its name in the report.
      workdir: the folder the files go into.
      model: the trained classifier.
      predictor: the model's `predict.Predictor`.
      splits: {"train", "val", "test"} splits the run trained and evaluates on.
      history: the training loop's per-epoch rows.
      extra: entries added to the report (e.g. `describe`'s).
      positive_class: the positive class's name for two-class metrics (None = the second).
    """
    results = {}
    for name, split in splits.items():
        results[name], logits = evaluate(model, predictor, split, config, images, positive_class)
        if name != "train":
            path = os.path.join(workdir, f"predictions_{name}.csv")
            prediction_table.write_predictions(path, split, logits)
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
        "data": reporting.data_summary(splits),
        "metrics": results,
        # G2C papers' Table 4: the gap between training and testing category-averaged
        # (balanced) accuracy, the measure of all their tables; plain accuracy's beside it.
        "train_test_gap": results["train"]["balanced_accuracy"]
        - results["test"]["balanced_accuracy"],
        "train_test_accuracy_gap": results["train"]["accuracy"] - results["test"]["accuracy"],
        "train_images_per_second": float(np.mean([r["images_per_second"] for r in history]))
        if history
        else None,
        "history": history,
        "figures": ["confusion_matrix.png", "learning_curves.png"],
        "predictions": ["predictions_val.csv", "predictions_test.csv"],
    }
    path = reporting.write_report(workdir, report)
    logging.info(
        "test balanced accuracy %.3f (chance %.3f); report: %s",
        results["test"]["balanced_accuracy"],
        1 / len(classes),
        path,
    )
    return report
