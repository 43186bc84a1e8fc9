"""Weakly labelled MIL phantoms: large H&E-like tiles of normal tissue in which a "tumour"
tile holds one irregular region of tumour cells and a "normal" tile none. The tile label
is whether any instance is tumour, the MIL assumption of the IHC paper ("MIL for Getting
Class-Related Information") and of Campanella et al. 2019.

    DATA_ROOT/labeled/<split>/<normal|tumour>/<patient>__t<index>.png
    DATA_ROOT/instances/<split>.csv   file, row, col, tumour (the true instance labels)
    DATA_ROOT/dataset.json

What makes them hard (all lengths are in instance sides, so they scale with
`instance_size`; the numbers are the module constants below):

- The tumour region is a blob (the union of `BLOB_DISCS` discs) of random size and
  position, not aligned to the instance grid, so it may cover parts of several instances.
  An instance is tumour when at least `TUMOUR_FRACTION` of its pixels are in the region;
  a tumour tile always has at least one such instance (the region is redrawn until so).
- Tumour nuclei differ from normal ones by degree, not kind: each tumour tile draws a
  grade in `GRADE`, and the nuclei's radius, elongation, darkness and density, and the
  region's stroma tint, go linearly from the normal values (grade 0) to the tumour ones
  (grade 1), so low-grade regions are faint.
- Confounders in both classes alike: every `LYMPHOCYTE_EVERY`-th tile of each class (so
  exactly as many in either class of a split, and the confounder carries no label
  information even in small splits) holds a dense cluster of small, round, very dark
  lymphocytes (darker than any tumour nucleus, but small), and every tile has its own
  stain (per-channel factors within `STAIN_JITTER`) and brightness (within
  `BRIGHTNESS_JITTER`).

Measured with `configs/mil.py` (200 training tiles, 20 epochs), seeds 0, 1, 2: test tile
AUC 0.89, 0.96, 0.88 and instance AUC 0.95, 0.98, 0.98 (the old squares of dense dark
nuclei: 1.00). `python -m kerasg2c.phantoms.mil_tiles --preview tiles.png` draws a few.

Examples:

    kerasg2c mil-phantoms --out=data/mil --n_train=40 --preview=data/mil.png
"""

import csv
import json
import pathlib

import numpy as np
from absl import app, flags
from PIL import Image

from kerasg2c.phantoms import cli

CLASSES = ("normal", "tumour")
_SPLITS = ("train", "val", "test")
_TILES_PER_PATIENT = 4

TUMOUR_FRACTION = 0.25  # an instance is tumour when ≥ this share of its pixels is tumour
BLOB_DISCS = (1, 3)  # discs in the tumour region's union (inclusive)
BLOB_RADIUS = (0.4, 0.9)  # their radii, in instance sides
GRADE = (0.55, 1.0)  # per-tumour-tile grade: 0 = nuclei like normal ones, 1 = full tumour
# Nuclei: radius (low, high) in pixels at 32-px instances (times instance_size / 32
# otherwise; an ellipse of that disc's area), elongation = major / minor axis (low, high),
# RGB colour, and density = nuclei per pixel at 32-px instances (divided by
# instance_size / 32 otherwise).
NORMAL_NUCLEUS = {"radius": (1.2, 2.2), "elongation": (1.0, 1.6), "colour": (0.55, 0.35, 0.65),
                  "density": 0.006}  # fmt: skip
TUMOUR_NUCLEUS = {"radius": (2.4, 3.8), "elongation": (1.2, 2.2), "colour": (0.34, 0.18, 0.48),
                  "density": 0.016}  # fmt: skip
LYMPHOCYTE = {"radius": (1.1, 1.6), "elongation": (1.0, 1.15), "colour": (0.22, 0.12, 0.38),
              "density": 0.03}  # fmt: skip
LYMPHOCYTE_EVERY = 2  # every 2nd tile of each class has a lymphocyte cluster
LYMPHOCYTE_RADIUS = (0.4, 0.9)  # cluster radius, in instance sides
STROMA = (0.93, 0.72, 0.82)  # normal background colour
TUMOUR_STROMA = (0.84, 0.64, 0.80)  # tumour background at grade 1
STAIN_JITTER = 0.06  # per-tile, per-channel factor in 1 ± this
BRIGHTNESS_JITTER = 0.06  # per-tile additive brightness in ± this
_REDRAWS = 100  # tumour regions drawn before the largest-covering one is kept


def _nuclei(image, rng, count, kind, scale, mask=None):
    """Draws `count` filled ellipses of the `kind` dict (radius, elongation, colour) into
    `image` (float [S, S, 3]); centres inside `mask` ([S, S] bool) when given."""
    size = image.shape[0]
    if mask is None:
        centres = rng.uniform(0, size, (count, 2))
    else:
        ys, xs = np.nonzero(mask)
        if not len(ys):
            return
        pick = rng.integers(0, len(ys), count)
        centres = np.stack([ys[pick], xs[pick]], axis=1) + rng.uniform(-0.5, 0.5, (count, 2))
    radii = rng.uniform(*kind["radius"], count) * scale
    elongation = rng.uniform(*kind["elongation"], count)
    angles = rng.uniform(0, np.pi, count)
    shades = rng.uniform(0.88, 1.12, count)
    colour = np.asarray(kind["colour"])
    for (cy, cx), r, e, a, k in zip(centres, radii, elongation, angles, shades):
        major, minor = r * np.sqrt(e), r / np.sqrt(e)  # same area as a disc of radius r
        lo_y, hi_y = max(0, int(cy - major)), min(size, int(cy + major) + 1)
        lo_x, hi_x = max(0, int(cx - major)), min(size, int(cx + major) + 1)
        if lo_y >= hi_y or lo_x >= hi_x:
            continue
        yy, xx = np.mgrid[lo_y:hi_y, lo_x:hi_x]
        dy, dx = yy - cy, xx - cx
        u, v = dx * np.cos(a) + dy * np.sin(a), -dx * np.sin(a) + dy * np.cos(a)
        inside = (u / major) ** 2 + (v / minor) ** 2 <= 1
        image[lo_y:hi_y, lo_x:hi_x][inside] = colour * k


def _blob(rng, size, instance_size):
    """[size, size] bool: the union of `BLOB_DISCS` discs of radius `BLOB_RADIUS`
    (instance sides), the first centred anywhere, the others near it."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    mask = np.zeros((size, size), bool)
    cy, cx = rng.uniform(0, size, 2)
    for i in range(rng.integers(BLOB_DISCS[0], BLOB_DISCS[1] + 1)):
        r = rng.uniform(*BLOB_RADIUS) * instance_size
        y, x = (cy, cx) if i == 0 else (cy, cx) + rng.normal(0, 0.5 * instance_size, 2)
        mask |= (yy - y) ** 2 + (xx - x) ** 2 <= r * r
    return mask


def _fractions(mask, instance_size):
    """[g, g] share of each instance's pixels that are in `mask`."""
    g = mask.shape[0] // instance_size
    return mask.reshape(g, instance_size, g, instance_size).mean(axis=(1, 3))


def _mix(a, b, t):
    """`a` → `b` at t in [0, 1], elementwise over tuples/pairs."""
    return tuple((1 - t) * np.asarray(a, float) + t * np.asarray(b, float))


def make_tile(rng, size: int, instance_size: int, tumour: bool, lymphocytes: bool = False):
    """(uint8 image [size, size, 3], bool instance labels [g, g], bool tumour mask [size,
    size]) with g = size // instance_size, as the module docstring describes; a cluster of
    lymphocytes when `lymphocytes`."""
    scale = instance_size / 32
    g = size // instance_size
    image = np.asarray(STROMA) + rng.normal(0, 0.03, (size, size, 3))
    _nuclei(image, rng, int(NORMAL_NUCLEUS["density"] * size * size / scale), NORMAL_NUCLEUS,
            scale)  # fmt: skip
    mask = np.zeros((size, size), bool)
    if tumour:
        best = None
        for _ in range(_REDRAWS):
            region = _blob(rng, size, instance_size)
            top = _fractions(region, instance_size).max()
            if best is None or top > best[0]:
                best = (top, region)
            if top >= TUMOUR_FRACTION:
                break
        mask = best[1]
        grade = rng.uniform(*GRADE)
        kind = {k: _mix(NORMAL_NUCLEUS[k], TUMOUR_NUCLEUS[k], grade)
                for k in ("radius", "elongation", "colour")}  # fmt: skip
        density = float(_mix([NORMAL_NUCLEUS["density"]], [TUMOUR_NUCLEUS["density"]], grade)[0])
        tint = np.asarray(_mix(STROMA, TUMOUR_STROMA, grade))
        image[mask] = tint + rng.normal(0, 0.03, (mask.sum(), 3))
        _nuclei(image, rng, int(density * mask.sum() / scale), kind, scale, mask)
    if lymphocytes:
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(*LYMPHOCYTE_RADIUS) * instance_size
        cluster = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        count = int(LYMPHOCYTE["density"] * cluster.sum() / scale)
        _nuclei(image, rng, count, LYMPHOCYTE, scale, cluster)
    image = image * rng.uniform(1 - STAIN_JITTER, 1 + STAIN_JITTER, 3)
    image = image + rng.uniform(-BRIGHTNESS_JITTER, BRIGHTNESS_JITTER)
    labels = _fractions(mask, instance_size) >= TUMOUR_FRACTION
    assert labels.shape == (g, g) and labels.any() == tumour
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8), labels, mask


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
            lymphocytes = (index // 2) % LYMPHOCYTE_EVERY == 0
            image, labels, _ = make_tile(rng, size, instance_size, tumour, lymphocytes)
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
        "positive_class": "tumour",  # the MIL job's positive class (never folder order)
        "tasks": {},
        "generator": {"name": "kerasg2c.data.mil_phantoms", "seed": seed, "size": size,
                      "instance_size": instance_size, "tumour_fraction": TUMOUR_FRACTION},
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


def _outline(image, mask, labels, instance_size):
    """A copy of `image` with the tumour region's edge in green and the tumour instances'
    edges in yellow."""
    out = image.copy()
    edge = mask & ~(np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1)
                    & np.roll(mask, -1, 1))  # fmt: skip
    out[edge] = (0, 200, 0)
    s = instance_size
    for r, c in zip(*np.nonzero(labels)):
        box = out[r * s : (r + 1) * s, c * s : (c + 1) * s]
        box[[0, -1], :] = (255, 220, 0)
        box[:, [0, -1]] = (255, 220, 0)
    return out


def write_preview(path, *, seed=0, n=4, size=256, instance_size=32) -> None:
    """Writes a PNG: a row of `n` normal tiles, then `n` tumour tiles, each tumour tile
    beside a copy with its tumour region (green) and tumour instances (yellow) outlined.
    The tiles are those of the `test` split of `write_tiles` with the same seed."""
    pad, rows = 4, []
    for tumour in (False, True):
        row = []
        for i in range(n):
            index = 2 * i + tumour
            rng = np.random.default_rng([seed, _SPLITS.index("test"), index])
            image, labels, mask = make_tile(rng, size, instance_size, tumour, i % 2 == 0)
            row.append(image)
            if tumour:
                row.append(_outline(image, mask, labels, instance_size))
        row = [np.pad(x, ((pad, pad), (pad, pad), (0, 0)), constant_values=255) for x in row]
        rows.append(np.concatenate(row, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def _define_flags():
    flags.DEFINE_string("out", None, "DATA_ROOT to write.")
    flags.DEFINE_integer("n_train", 200, "Training tiles.")
    flags.DEFINE_integer("n_val", 40, "Validation tiles.")
    flags.DEFINE_integer("n_test", 60, "Test tiles.")
    flags.DEFINE_integer("size", 256, "Tile side in pixels.")
    flags.DEFINE_integer("instance_size", 32, "Instance side in pixels (divides --size).")
    flags.DEFINE_integer("seed", 0, "Seed; equal seeds give byte-identical output.")
    flags.DEFINE_string("preview", None, "Optional PNG of a few normal and tumour tiles.")


def main(argv):
    del argv
    f = flags.FLAGS
    shape = {"size": f.size, "instance_size": f.instance_size}
    cli.write_and_preview(
        "mil phantoms",
        f.out,
        f.preview,
        lambda out: write_tiles(
            out, n_train=f.n_train, n_val=f.n_val, n_test=f.n_test, seed=f.seed, **shape
        ),
        lambda png: write_preview(png, seed=f.seed, **shape),
    )


if __name__ == "__main__":
    _define_flags()  # only when run as a program: importing the module defines no flags
    app.run(main)
