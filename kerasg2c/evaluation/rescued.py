"""Figure 3 of the G2C papers: patches one run gets wrong and another gets right (e.g.
PAS_ONLY wrong, PAS_ALL right), each shown with the stains the second run's generators
made of it."""

import os

import numpy as np

from kerasg2c.data.pipeline import LabeledSplit
from kerasg2c.evaluation import plots


def rescued(rows_a: dict, rows_b: dict) -> list:
    """Paths (sorted) of the patches both prediction tables hold that A predicts wrongly and
    B rightly (`rows_*`: `prediction_table.read_predictions` of the runs' predictions_test.csv)."""
    return sorted(
        p
        for p, a in rows_a.items()
        if p in rows_b and a["predicted"] != a["label"] and rows_b[p]["predicted"] == a["label"]
    )


def save_rescued_figure(model, rows_a, rows_b, out, *, image_size, stains=(), limit=8) -> int:
    """Writes `out` (PNG): one row per rescued patch (at most `limit`), the input patch
    titled "true | A → B", then each stain the G2C `model` (run B) generates of it.

    Returns the number of rescued patches (all of them, not only those drawn); with none,
    nothing is written.
    """
    paths = rescued(rows_a, rows_b)
    if not paths:
        return 0
    shown = paths[:limit]
    classes = sorted({rows_a[p]["label"] for p in rows_a})
    split = LabeledSplit(
        name="rescued",
        classes=tuple(classes),
        paths=tuple(shown),
        labels=np.array([classes.index(rows_a[p]["label"]) for p in shown], np.int32),
        patients=tuple(rows_a[p]["patient"] for p in shown),
    )
    images, _ = next(iter(split.dataset(batch_size=len(shown), image_size=image_size)))
    generated = []
    if getattr(model, "generators", None):
        _, generated = model(images, training=False, return_stains=True)
    columns = 1 + len(generated)
    stain_names = list(stains) or [f"generated {m + 1}" for m in range(len(generated))]
    cells, titles = [], []
    for i, path in enumerate(shown):
        cells.append(images[i].numpy())
        a, b = rows_a[path], rows_b[path]
        titles.append(f"{a['label']} | {a['predicted']} → {b['predicted']}")
        for m in range(len(generated)):
            cells.append(np.asarray(generated[m][i]))
            titles.append(stain_names[m])
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    plots.save_image_grid(np.stack(cells), out, titles=titles, columns=columns)
    return len(paths)
