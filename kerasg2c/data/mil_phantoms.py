"""Weakly labelled MIL phantoms: large H&E-like tiles of normal tissue texture in which a
"tumour" tile holds one or two instance-sized squares of tumour texture (dense, large,
dark nuclei) and a "normal" tile none. The tile label is whether any instance is tumour,
the MIL assumption of the IHC paper ("MIL for Getting Class-Related Information") and of
Campanella et al. 2019.

    DATA_ROOT/labeled/<split>/<normal|tumour>/<patient>__t<index>.png
    DATA_ROOT/instances/<split>.csv   file, row, col, tumour (the true instance labels)
    DATA_ROOT/dataset.json
"""

import csv
import json
import pathlib

import numpy as np
from PIL import Image

CLASSES = ("normal", "tumour")
_SPLITS = ("train", "val", "test")
_TILES_PER_PATIENT = 4


def _discs(image, rng, count, radius, colour, mask=None):
    """Draws `count` filled discs of radius in `radius` (low, high) and RGB `colour` into
    `image` (float [S, S, 3]); centres inside `mask` ([S, S] bool) when given."""
    size = image.shape[0]
    if mask is None:
        centres = rng.integers(0, size, (count, 2))
    else:
        ys, xs = np.nonzero(mask)
        pick = rng.integers(0, len(ys), count)
        centres = np.stack([ys[pick], xs[pick]], axis=1)
    for (cy, cx), r in zip(centres, rng.uniform(*radius, count)):
        lo_y, hi_y = max(0, int(cy - r)), min(size, int(cy + r) + 1)
        lo_x, hi_x = max(0, int(cx - r)), min(size, int(cx + r) + 1)
        yy, xx = np.mgrid[lo_y:hi_y, lo_x:hi_x]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        shade = colour * rng.uniform(0.85, 1.15)
        image[lo_y:hi_y, lo_x:hi_x][disc] = shade


def make_tile(rng, size: int, instance_size: int, tumour: bool):
    """(uint8 image [size, size, 3], bool instance labels [g, g]) with g = size //
    instance_size: stroma-pink texture with small sparse nuclei; a tumour tile also
    has 1–2 adjacent grid cells of dense large dark nuclei."""
    g = size // instance_size
    scale = instance_size / 32
    image = np.array([0.93, 0.72, 0.82]) + rng.normal(0, 0.03, (size, size, 3))
    _discs(image, rng, int(0.006 * size * size / scale), (1.2 * scale, 2.2 * scale),
           np.array([0.55, 0.35, 0.65]))  # fmt: skip
    labels = np.zeros((g, g), bool)
    if tumour:
        r, c = rng.integers(0, g, 2)
        labels[r, c] = True
        if rng.random() < 0.5:  # a second, adjacent instance
            dr, dc = [(0, 1), (1, 0), (0, -1), (-1, 0)][rng.integers(4)]
            labels[min(max(r + dr, 0), g - 1), min(max(c + dc, 0), g - 1)] = True
        mask = np.kron(labels, np.ones((instance_size, instance_size), bool))
        image[mask] = np.array([0.80, 0.60, 0.78]) + rng.normal(0, 0.03, (mask.sum(), 3))
        count = int(0.02 * mask.sum() / scale)
        _discs(image, rng, count, (3.0 * scale, 4.5 * scale), np.array([0.28, 0.14, 0.42]), mask)
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), labels


def write_tiles(out, *, n_train, n_val, n_test, size, instance_size, seed=0) -> dict:
    """Writes a MIL DATA_ROOT (module docstring): per split half the tiles tumour,
    `_TILES_PER_PATIENT` tiles per patient, patients disjoint across splits; each tile a
    function of (seed, split, index). Returns {split: {class: n}}."""
    if size % instance_size or size < instance_size:
        raise ValueError(f"size={size} must be a multiple of instance_size={instance_size}")
    out = pathlib.Path(out)
    counts, patient = {}, 0
    for code, (split, n) in enumerate(zip(_SPLITS, (n_train, n_val, n_test))):
        rows = []
        for index in range(n):
            rng = np.random.default_rng([seed, code, index])
            tumour = index % 2 == 1
            image, labels = make_tile(rng, size, instance_size, tumour)
            owner = f"p{patient + index // _TILES_PER_PATIENT:04d}"
            name = pathlib.Path(split, CLASSES[tumour], f"{owner}__t{index:05d}.png")
            path = out / "labeled" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path)
            rows += [
                [name.as_posix(), r, c, int(labels[r, c])] for r, c in np.ndindex(*labels.shape)
            ]
        patient += -(-n // _TILES_PER_PATIENT)
        (out / "instances").mkdir(parents=True, exist_ok=True)
        with open(out / "instances" / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["file", "row", "col", "tumour"])
            writer.writerows(rows)
        counts[split] = {"normal": n - n // 2, "tumour": n // 2}
    meta = {
        "source_stain": "HE",
        "stains": ["HE"],
        "classes": list(CLASSES),
        "tasks": {},
        "generator": {"name": "kerasg2c.data.mil_phantoms", "seed": seed, "size": size,
                      "instance_size": instance_size},
    }  # fmt: skip
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return counts


def read_instance_labels(root, split) -> dict:
    """{labeled-relative file: bool [g, g]} from `instances/<split>.csv`; {} when absent
    (a DATA_ROOT of real tiles)."""
    path = pathlib.Path(root, "instances", f"{split}.csv")
    if not path.exists():
        return {}
    cells = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            cells.setdefault(row["file"], []).append(
                (int(row["row"]), int(row["col"]), row["tumour"] == "1")
            )
    labels = {}
    for name, entries in cells.items():
        g = max(r for r, _, _ in entries) + 1
        grid = np.zeros((g, g), bool)
        for r, c, t in entries:
            grid[r, c] = t
        labels[name] = grid
    return labels
