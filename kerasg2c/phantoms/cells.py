"""Synthetic cell phantoms: bone-marrow-like single cells and H&E tiles of many cells.

Writes the single-cell crops of `cell_shapes` and the tiles of `cell_tiles` as DATA_ROOTs
(`write_cells`, `write_tiles`) and a preview PNG (`write_preview`); every image depends only
on (seed, split, index), so equal arguments give byte-identical files.

    python -m kerasg2c.phantoms.cells --out=/tmp/cells --preview=/tmp/cells.png

Examples:

    kerasg2c cell-phantoms --out=data/cell_phantoms --preview=data/cell_phantoms.png
    kerasg2c cell-phantoms --out=data/cells_nuisance --kinds=cells --nuisance=1
"""

import csv
import io
import json
import pathlib

import numpy as np
from absl import app, flags, logging
from PIL import Image
from skimage import segmentation

from kerasg2c.phantoms import cell_nuisance, cli
from kerasg2c.phantoms.cell_shapes import CROP_SIZE, STAIN_MATRIX, TYPES, make_cell
from kerasg2c.phantoms.cell_tiles import (
    ABNORMAL_SHARE,
    ABNORMAL_TYPES,
    LABELS,
    TILE_SIZE,
    make_tile,
)

_SPLITS = ("train", "val", "test")
_CODES = {
    name: code
    for code, name in enumerate(
        (*(f"cells/{s}" for s in _SPLITS), *(f"tiles/{s}" for s in _SPLITS), "preview")
    )
}
_PLAN, _IMAGE, _NUISANCE = 0, 1, 2  # stream ids
_LOG_EVERY = 1000


def _rng(seed, *keys):
    """A generator that depends only on (seed, *keys), never on what was drawn before."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _check_counts(**counts):
    for name, value in counts.items():
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def _plan(seed, code, n, first_patient, classes, group, by_class):
    """(class, patient) per index of one split: `classes` balanced and shuffled; patients of
    `group` (low, high) images, all of one class when `by_class`."""
    rng = _rng(seed, code, 0, _PLAN)
    order = rng.permutation(np.resize(np.arange(len(classes)), n))
    patients = np.zeros(n, int)
    pools = [np.flatnonzero(order == c) for c in range(len(classes))] if by_class else [range(n)]
    patient = first_patient
    for pool in pools:
        sizes = rng.integers(*group, size=len(pool))
        owners = np.repeat(np.arange(len(pool)), sizes)[: len(pool)]
        patients[list(pool)] = owners + patient
        patient += int(owners[-1]) + 1 if len(pool) else 0
    return [(classes[c], f"p{p:04d}") for c, p in zip(order, patients)]


def _save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    path.write_bytes(buffer.getvalue())


def _write_meta(out, classes, generator, **extra):
    meta = {"source_stain": "HE", "stains": ["HE"], "classes": list(classes), "tasks": {}}
    meta |= extra | {"generator": generator}
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")


def write_cells(out, *, n_train, n_val, n_test, seed=0, size=CROP_SIZE, nuisance=0.0):
    """Writes a single-cell DATA_ROOT: `labeled/<split>/<type>/<patient>__c<index>.png`.

    Types are balanced and shuffled per split; patients (20–60 cells each) are disjoint
    across splits. Each crop depends only on (seed, split, index), so equal arguments give
    byte-identical files. dataset.json lists the types as classes and records the generator
    (with `nuisance` when > 0). `nuisance` (>= 0) is the level of `cell_nuisance`'s
    perturbations, drawn per crop from a stream of their own; 0 (the control) writes the
    very files it always did.

    Returns:
      {"path", "counts": {split: {type: n}}, "patients": {split: n}}.
    """
    _check_counts(n_train=n_train, n_val=n_val, n_test=n_test, seed=seed)
    if int(size) != size or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    level = cell_nuisance.check_level(nuisance)
    out, sizes = pathlib.Path(out), {"train": n_train, "val": n_val, "test": n_test}
    counts, patients, first, written = {}, {}, 0, 0
    for split in _SPLITS:
        code = _CODES[f"cells/{split}"]
        plan = _plan(seed, code, int(sizes[split]), first, TYPES, (20, 61), False)
        for index, (cell_type, patient) in enumerate(plan):
            drawn = None
            if level > 0:
                nuisance_rng = _rng(seed, code, index, _NUISANCE)
                drawn = cell_nuisance.Nuisance.draw(nuisance_rng, level, size, TYPES)
            image, _ = make_cell(_rng(seed, code, index, _IMAGE), cell_type, size, drawn)
            _save(out / "labeled" / split / cell_type / f"{patient}__c{index:06d}.png", image)
            written += 1
            if written % _LOG_EVERY == 0:
                logging.info("cell phantoms: %d cells written to %s", written, out)
        counts[split] = {t: sum(c == t for c, _ in plan) for t in TYPES}
        patients[split] = len({p for _, p in plan})
        first += patients[split]
    generator = {"name": "kerasg2c.data.cell_phantoms.cells", "seed": seed, "size": size}
    generator |= {"nuisance": level} if level > 0 else {}
    _write_meta(out, TYPES, generator, stain_matrix=STAIN_MATRIX.tolist())
    return {"path": str(out), "counts": counts, "patients": patients}


def write_tiles(out, *, n_train, n_val, n_test, seed=0, size=TILE_SIZE):
    """Writes a tile DATA_ROOT for image-level classification.

    `labeled/<split>/<normal|abnormal>/<patient>__t<index>.png` (RGB),
    `masks/<split>/<label>/<same name>.png` (uint16 instance ids, 0 = background) and
    `counts/<split>.csv` (per tile: file, patient, label, n_cells and one count per type;
    instance i has the type of the i-th cell in mask order, see `make_tile`). Labels are
    balanced per split; a patient's 2–6 tiles share a label; patients are disjoint across
    splits. Each tile depends only on (seed, split, index).

    Returns:
      {"path", "counts": {split: {label: n}}, "patients": {split: n}, "cells": {split: n}}.
    """
    _check_counts(n_train=n_train, n_val=n_val, n_test=n_test, seed=seed)
    if int(size) != size or size < 64:
        raise ValueError(f"size must be an integer >= 64, got {size!r}")
    out, sizes = pathlib.Path(out), {"train": n_train, "val": n_val, "test": n_test}
    summary = {"path": str(out), "counts": {}, "patients": {}, "cells": {}}
    first = 0
    for split in _SPLITS:
        code = _CODES[f"tiles/{split}"]
        plan = _plan(seed, code, int(sizes[split]), first, LABELS, (2, 7), True)
        rows = []
        for index, (label, patient) in enumerate(plan):
            tile = make_tile(_rng(seed, code, index, _IMAGE), size, label)
            name = pathlib.Path(split, tile.label, f"{patient}__t{index:05d}.png")
            _save(out / "labeled" / name, tile.image)
            _save(out / "masks" / name, tile.instances)
            rows.append([name.as_posix(), patient, tile.label, len(tile.types)])
            rows[-1] += [tile.counts[t] for t in TYPES] + [",".join(tile.types)]
        (out / "counts").mkdir(parents=True, exist_ok=True)
        with open(out / "counts" / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["file", "patient", "label", "n_cells", *TYPES, "instance_types"])
            writer.writerows(rows)
        summary["counts"][split] = {lab: sum(r[2] == lab for r in rows) for lab in LABELS}
        summary["patients"][split] = len({p for _, p in plan})
        summary["cells"][split] = sum(r[3] for r in rows)
        first += summary["patients"][split]
        logging.info("cell phantoms: %d %s tiles written to %s", len(rows), split, out)
    generator = {"name": "kerasg2c.data.cell_phantoms.tiles", "seed": seed, "size": size}
    rule = {"abnormal_types": list(ABNORMAL_TYPES), "abnormal_share": ABNORMAL_SHARE}
    _write_meta(
        out, LABELS, generator, cell_types=list(TYPES), label_rule=rule,
        stain_matrix=STAIN_MATRIX.tolist(),
    )  # fmt: skip
    return summary


def _outline(tile):
    """The tile's image with its nuclei's outlines in green."""
    image = tile.image.copy()
    image[segmentation.find_boundaries(tile.instances, mode="inner")] = (0, 200, 0)
    return image


def write_preview(path, *, seed=0, per_type=8, tile_size=TILE_SIZE):
    """Writes a PNG: one row of `per_type` crops per type (2× enlarged), then a normal and an
    abnormal tile, each beside a copy with its nuclei outlined."""
    _check_counts(per_type=per_type, seed=seed)
    code, pad = _CODES["preview"], 2
    rows = []
    for t, cell_type in enumerate(TYPES):
        crops = [
            make_cell(_rng(seed, code, t, i), cell_type)[0].repeat(2, 0).repeat(2, 1)
            for i in range(per_type)
        ]
        crops = [np.pad(c, ((pad, pad), (pad, pad), (0, 0)), constant_values=255) for c in crops]
        rows.append(np.concatenate(crops, axis=1))
    for j, label in enumerate(LABELS):
        tile = make_tile(_rng(seed, code, len(TYPES), j), tile_size, label)
        pair = [np.pad(x, ((pad, pad), (pad, pad), (0, 0)), constant_values=255)
                for x in (tile.image, _outline(tile))]  # fmt: skip
        rows.append(np.concatenate(pair, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    _save(pathlib.Path(path), np.concatenate(rows, 0))


def _define_flags():
    flags.DEFINE_string("out", None, "Folder: writes OUT/cells and OUT/tiles DATA_ROOTs.")
    flags.DEFINE_list("kinds", ["cells", "tiles"], "Which DATA_ROOTs to write: cells, tiles.")
    flags.DEFINE_integer("n_cells_train", 2000, "Training cells.")
    flags.DEFINE_integer("n_cells_val", 400, "Validation cells.")
    flags.DEFINE_integer("n_cells_test", 400, "Test cells.")
    flags.DEFINE_integer("n_tiles_train", 40, "Training tiles.")
    flags.DEFINE_integer("n_tiles_val", 12, "Validation tiles.")
    flags.DEFINE_integer("n_tiles_test", 12, "Test tiles.")
    flags.DEFINE_integer("tile_size", TILE_SIZE, "Tile side in pixels (>= 64).")
    flags.DEFINE_integer("seed", 0, "Seed (>= 0); equal seeds give byte-identical output.")
    flags.DEFINE_string("preview", None, "Optional PNG: crops per type (rows), then tiles.")
    flags.DEFINE_float("nuisance", 0.0, "Cells only: nuisance level (cell_nuisance), 0 = none.")


def main(argv):
    del argv
    f = flags.FLAGS
    unknown = sorted(set(f.kinds) - {"cells", "tiles"})
    if unknown:
        raise app.UsageError(f"--kinds must name cells and/or tiles, got {unknown}", exitcode=2)

    def write(out):
        summary = {}
        for kind, write_kind, options in (
            ("cells", write_cells, {"nuisance": f.nuisance}),
            ("tiles", write_tiles, {"size": f.tile_size}),
        ):
            if kind in f.kinds:
                counts = {f"n_{k}": getattr(f, f"n_{kind}_{k}") for k in _SPLITS}
                folder = pathlib.Path(out, kind)
                summary[kind] = write_kind(folder, **counts, seed=f.seed, **options)
        return summary

    cli.write_and_preview(
        "cell phantoms",
        f.out,
        f.preview,
        write,
        lambda png: write_preview(png, seed=f.seed, tile_size=f.tile_size),
    )


if __name__ == "__main__":
    _define_flags()  # only when run as a program: importing the module defines no flags
    app.run(main)
