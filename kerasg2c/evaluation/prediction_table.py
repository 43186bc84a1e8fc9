"""The per-patch predictions CSV of a classification run (`predictions_{val,test}.csv`):
one row per patch with its file, patient, true class, predicted class and the
probability of every class. Figures, the hierarchical evaluation and the comparison
read it; this module is the only one that knows its columns."""

import csv
import os

import numpy as np
import tensorflow as tf

from kerasg2c import errors

COLUMNS = ("path", "patient", "label", "predicted")


def write_predictions(path, split, logits, output_classes=None) -> None:
    """Writes one row per patch of `split` with the softmax of `logits` [N, C].

    `output_classes`: the model's classes when they are not the split's (a task model
    answering on every patch of the full split)."""
    output_classes = output_classes or split.classes
    probabilities = np.asarray(tf.nn.softmax(logits))
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*COLUMNS, *output_classes])
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


def read_predictions(path) -> dict:
    """{absolute image path: row} from a predictions CSV (a relative path, from a run given
    a relative data.root, is taken from the current directory)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not set(COLUMNS) <= set(rows[0]):
        raise errors.UserError(f"{path}: not a predictions CSV (columns {list(rows[0])})")
    return {os.path.abspath(row["path"]): row for row in rows}
