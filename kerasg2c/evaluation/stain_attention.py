"""A G2C PAS_ALL+ run's cross-stain attention per class and stain (AAAI G2C, §Formulation;
docs/METHODS.md §2): the computation behind `python -m kerasg2c.stain_attention`, which
the G2C job also runs at the end of a PAS_ALL+ run."""

import os

import numpy as np

from kerasg2c import json_files
from kerasg2c.errors import UserError

SOURCE_STAIN = "PAS"


def per_patch_attention(model, split, image_size, batch_size=32) -> np.ndarray:
    """[P, N] mean gate of each patch of `split` (a `LabeledSplit`) on each stain branch:
    `G2C.stain_attention` averaged over the attention blocks."""
    rows = []
    for images, _ in split.dataset(batch_size=batch_size, image_size=image_size):
        gates = np.asarray(model.stain_attention(images))  # [K, N, B]
        rows.append(gates.mean(axis=0).T)
    return np.concatenate(rows, axis=0)


def class_table(gates, labels, classes, stains) -> dict:
    """Per class (one row each, in `classes` order): its patch count, the mean gate of each
    stain over its patches (each a sigmoid, in (0, 1); not normalised across stains) and the
    mean share (a patch's gate over the sum of its N gates: sums to 1 per patch, so per row).

    Args:
      gates: [P, N] per-patch mean gates; labels: [P] class indices into `classes`;
      classes: the class names; stains: the N branch names.
    """
    gates, labels = np.asarray(gates, np.float64), np.asarray(labels)
    shares = gates / gates.sum(axis=1, keepdims=True)
    table = {"classes": list(classes), "stains": list(stains), "rows": []}
    for c, name in enumerate(classes):
        mine = labels == c
        table["rows"].append(
            {
                "class": name,
                "patches": int(mine.sum()),
                "mean_gate": gates[mine].mean(axis=0).tolist() if mine.any() else None,
                "mean_share": shares[mine].mean(axis=0).tolist() if mine.any() else None,
            }
        )
    return table


def save_figure(table, path) -> None:
    """Grouped bars: per class, each stain's mean share of the attention."""
    from kerasg2c.evaluation.plots import plt  # the Agg backend

    rows = [r for r in table["rows"] if r["mean_share"] is not None]
    stains, width = table["stains"], 0.8 / len(table["stains"])
    fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(rows), 3.2))
    x = np.arange(len(rows))
    for n, stain in enumerate(stains):
        ax.bar(x + n * width, [r["mean_share"][n] for r in rows], width, label=stain)
    ax.axhline(1 / len(stains), color="gray", lw=0.8, ls="--")
    ax.set_xticks(x + 0.4 - width / 2, [f"{r['class']} ({r['patches']})" for r in rows])
    ax.set_ylabel("mean share of the attention")
    ax.legend(fontsize=7, ncols=len(stains))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(workdir: str, image_size: tuple[int, int] | None, split_name: str = "test") -> dict:
    """Computes the table of `workdir`'s run on `split_name` (images resized to
    `image_size`, the run's (height, width)) and writes the JSON and PNG
    beside its report; returns the table. Raises UserError naming the missing piece."""
    import keras

    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)
    from kerasg2c.data.pipeline import LabeledSplit
    from kerasg2c.evaluation import prediction_table

    _, report = json_files.load_report(workdir)
    if report.get("trainer") != "g2c" or not report.get("variant", "").endswith("_PLUS"):
        raise UserError(f"{workdir}: not a G2C run with cross-stain attention (PAS_ALL_PLUS)")
    if report.get("stain_source", "generated") == "paired":
        raise UserError(f"{workdir}: a stain-oracle run (g2c.stain_source=paired) has no tool")
    needed = [f"predictions_{split_name}.csv", "model.keras", "config.json"]
    for name in needed:
        if not os.path.isfile(os.path.join(workdir, name)):
            raise UserError(f"{workdir}: no {name} (did the run finish?)")
    classes = tuple(report["classes"])
    rows = prediction_table.read_predictions(os.path.join(workdir, f"predictions_{split_name}.csv"))
    paths = sorted(rows)
    split = LabeledSplit(
        name=split_name,
        classes=classes,
        paths=tuple(paths),
        labels=np.array([classes.index(rows[p]["label"]) for p in paths], np.int32),
        patients=tuple(rows[p]["patient"] for p in paths),
    )
    model = keras.saving.load_model(os.path.join(workdir, "model.keras"), compile=False)
    gates = per_patch_attention(model, split, image_size)
    stains = [SOURCE_STAIN, *report.get("stains", [])]
    table = {"split": split_name, **class_table(gates, split.labels, classes, stains)}
    json_files.write(os.path.join(workdir, "stain_attention.json"), table, indent=2)
    save_figure(table, os.path.join(workdir, "stain_attention.png"))
    return table
