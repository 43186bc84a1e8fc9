"""Step 4 of the Ki-67 evaluation job (`ki67_eval_job`): one split's H&E patches
translated by the raw and the conditional CycleGAN, the Ki-67 index
(`pathology.ki67.ki67_index`) of the real twins and of both synthetic sets, and the IHC
paper's Table 3 rows (mean index per source and true class, errors against the true and
the real twin's index).
"""

import csv
import os

import numpy as np
from PIL import Image

from kerasg2c.errors import UserError
from kerasg2c.pathology import ki67

SOURCES = ("real", "raw", "conditional")  # the table's rows after "true"


def condition_indices(predicted, classes, condition_classes) -> np.ndarray:
    """`predicted` (indices of `classes`) as indices of the conditional CycleGAN's own
    `condition_classes` (its report's "condition_classes": those of the relabelled view it
    trained on, in channel order), by name.

    Raises:
      UserError: a predicted class the conditional CycleGAN never saw.
    """
    names = [classes[i] for i in predicted]
    unknown = sorted(set(names) - set(condition_classes))
    if unknown:
        raise UserError(
            f"classes {unknown} predicted at evaluation are not among the conditional "
            f"CycleGAN's {list(condition_classes)}; list every class in dataset.json"
        )
    return np.array([condition_classes.index(n) for n in names], np.int32)


def read_uint8(path, size) -> np.ndarray:
    """An image file as uint8 RGB [size, size, 3] (bilinear resize only when needed)."""
    image = Image.open(path).convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    return np.asarray(image)


def translate(generator, images, classes=None, num_classes=0) -> np.ndarray:
    """uint8 images [N, S, S, 3] through a generator ([-1, 1] in and out); `classes`: int
    [N] appended as one-hot constant channels (the conditional CycleGAN)."""
    out = []
    for i in range(0, len(images), 16):
        x = images[i : i + 16].astype(np.float32) / 127.5 - 1.0
        if classes is not None:
            onehot = np.eye(num_classes, dtype=np.float32)[classes[i : i + 16]]
            x = np.concatenate(
                [x, np.broadcast_to(onehot[:, None, None], (*x.shape[:3], num_classes))], -1
            )
        y = np.asarray(generator(x, training=False))
        out.append(np.clip(np.rint((y + 1.0) * 127.5), 0, 255).astype(np.uint8))
    return np.concatenate(out)


def true_indices(root, split) -> dict:
    """{path relative to labeled/: true index} of `ki67/<split>.csv` ({} without it)."""
    path = os.path.join(root, "ki67", f"{split}.csv")
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        return {r["file"]: float(r["index"]) for r in csv.DictReader(f)}


def summary_rows(split, patches, classes) -> list[dict]:
    """Table 3 rows of one split: per source the mean index (all, per true class), the
    images without nuclei, and the per-image mean absolute error against the true index
    and against the real twin's measured index (NaN-free images only)."""
    rows = []
    label = np.array([p["class"] for p in patches])
    for source in ("true", *SOURCES):
        v = np.array([p[source] for p in patches], np.float64)

        def mae(ref, v=v):
            r = np.array([p[ref] for p in patches], np.float64)
            ok = ~np.isnan(v) & ~np.isnan(r)
            return float(np.mean(np.abs(v[ok] - r[ok]))) if ok.any() else None

        row = {"split": split, "source": source, "n": len(v), "no_nuclei": int(np.isnan(v).sum())}
        row["mean_index"] = _nanmean(v)
        for c in classes:
            row[f"mean_{c}"] = _nanmean(v[label == c])
        row["mae_vs_true"], row["mae_vs_real"] = mae("true"), mae("real")
        rows.append(row)
    return rows


def pooled_errors(patches) -> dict:
    """{source: mean |index − true index|} over every patch of `patches` (all scored
    splits) whose both indices are defined; None for a source with no such patch."""
    truth = np.array([p["true"] for p in patches], np.float64)
    errors = {}
    for source in SOURCES:
        v = np.array([p[source] for p in patches], np.float64)
        ok = ~np.isnan(v) & ~np.isnan(truth)
        errors[source] = float(np.mean(np.abs(v[ok] - truth[ok]))) if ok.any() else None
    return errors


def _nanmean(v):
    return float(np.nanmean(v)) if np.any(~np.isnan(v)) else None


def score_split(config, root, split, pair, he_predicted, nets, classes, condition_classes):
    """One split of step 4: (per-patch rows {split, file, class, he_prediction, true,
    real, raw, conditional}, the images H&E, real, raw, conditional). `he_predicted`:
    indices of `classes`; the conditional generator gets them as indices of its own
    `condition_classes`."""
    he_split, ki_split = pair
    size, truth = config.data.image_size, true_indices(root, split)
    he = np.stack([read_uint8(p, size) for p in he_split.paths])
    images = {
        "real": np.stack([read_uint8(p, size) for p in ki_split.paths]),
        "raw": translate(nets["raw"], he),
        "conditional": translate(
            nets["conditional"],
            he,
            condition_indices(he_predicted, classes, condition_classes),
            len(condition_classes),
        ),
    }
    index = {
        n: [ki67.ki67_index(x, threshold=config.ki67.threshold).index for x in v]
        for n, v in images.items()
    }
    rows = []
    for i, path in enumerate(he_split.paths):
        rel = os.path.relpath(path, os.path.join(root, "labeled")).replace(os.sep, "/")
        rows.append(
            {
                "split": split,
                "file": rel,
                "class": classes[he_split.labels[i]],
                "he_prediction": classes[he_predicted[i]],
                "true": truth.get(rel, float("nan")),
                **{n: index[n][i] for n in SOURCES},
            }
        )
    return rows, (he, *(images[n] for n in SOURCES))
