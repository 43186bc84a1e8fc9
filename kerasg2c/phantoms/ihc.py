"""Synthetic H&E and Ki-67 (H-DAB) twins of the same tumour or normal tissue layout.

The IHC CycleGAN paper translates H&E to Ki-67 and scores a Ki-67 image by the ratio of
positive cells to all cells; these phantoms give both stains of one layout with that ratio
known. Cells are drawn and painted by `cell_shapes`' geometry, placed touching or up to
3 px apart (a cell with no room left is dropped):

- `tumour`: 40–55 cells drawn per 256² (about 36–42 fit), mostly large open nuclei (its
  myeloblast and monocyte shapes); each nucleus Ki-67-positive with a per-image
  probability drawn from 0.3–0.8.
- `normal`: 25–35 cells per 256², small dense round nuclei (lymphocyte shape) and a few
  larger ones; positive with a per-image probability from 0.02–0.15.

`he_cue` in [0, 1] sets how plainly H&E shows which class a tile is: 1 (the default) is
the above; below 1 a normal tile's nuclei and density move towards the tumour's (its cell
count range is interpolated, and each nucleus is drawn from the tumour's kinds with
probability 1 − he_cue), while its Ki-67 positivity stays normal's. At 0 the classes differ
only in Ki-67 positivity, which H&E cannot show.

Both renderings are Beer–Lambert with the Ruifrok–Johnston vectors
(`cell_shapes.STAIN_MATRIX`, rows H, E, DAB) and share the nuclei mask exactly. H&E:
haematoxylin nuclei, eosin cytoplasm and stroma. Ki-67: haematoxylin counterstain at half
strength, no eosin, and in positive nuclei DAB of 0.7–1.5 (natural-log OD, i.e. a mean DAB OD
of about 0.3–0.65 on QuPath's base-10 scale, above its 0.2 threshold).

    python -m kerasg2c.phantoms.ihc --out=/tmp/ki67 --preview=/tmp/ki67.png

Examples:

    kerasg2c ihc-phantoms --out=data/ihc --preview=data/ihc.png
"""

import csv
import dataclasses
import json
import pathlib

import numpy as np
from absl import app, flags, logging
from scipy import ndimage

from kerasg2c.phantoms import cell_shapes, cells, cli

CLASSES = ("normal", "tumour")
STAINS = ("HE", "KI67")
SIZE = 256
_SPLITS = ("train", "val", "test")
_CELLS = {"normal": (25, 35), "tumour": (40, 55)}  # per 256×256
_KINDS = {"normal": ("lymphocyte", "monocyte"), "tumour": ("myeloblast", "monocyte")}
_KIND_SHARE = {"normal": (0.85, 0.15), "tumour": (0.7, 0.3)}
_POSITIVE = {"normal": (0.02, 0.15), "tumour": (0.3, 0.8)}
_CODES = {name: code for code, name in enumerate((*_SPLITS, "reference", "preview"))}


@dataclasses.dataclass(frozen=True)
class Twin:
    """One layout in both stains and its truth."""

    he: np.ndarray  # uint8 (S, S, 3)
    ki67: np.ndarray  # uint8 (S, S, 3)
    instances: np.ndarray  # uint16 (S, S): 0 background, i = the i-th nucleus
    positive: np.ndarray  # bool [n]: positive[i - 1] for instance i
    label: str

    @property
    def index(self):
        """Positive nuclei / all nuclei (NaN without nuclei)."""
        return float(self.positive.mean()) if len(self.positive) else float("nan")


def _render(rng, conc):
    """Beer–Lambert RGB of (H, E, DAB) concentration maps, with blur and noise."""
    vectors = cell_shapes.STAIN_MATRIX * rng.normal(1.0, 0.03, (3, 3))
    od = np.tensordot(np.stack(conc, -1), vectors, axes=1)
    rgb = ndimage.gaussian_filter(cell_shapes.I0 * np.exp(-od), sigma=(0.5, 0.5, 0))
    rgb += rng.normal(0.0, 2.0, rgb.shape)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def make_twin(rng, size=SIZE, label="tumour", he_cue=1.0) -> Twin:
    """Draws one layout of `label` and renders it in H&E and in Ki-67.

    Args:
      rng: a `np.random.Generator`; the twin depends on it (and `he_cue`) alone.
      size: side in pixels (>= 64); the number of cells scales with the area.
      label: "normal" or "tumour".
      he_cue: in [0, 1], how far a normal tile's nuclei and density stay normal's (1)
        rather than the tumour's (0); see the module docstring. Tumour tiles ignore it.
    """
    if label not in CLASSES:
        raise ValueError(f"label must be one of {CLASSES}, got {label!r}")
    if int(size) != size or size < 64:
        raise ValueError(f"size must be an integer >= 64, got {size!r}")
    if not 0 <= he_cue <= 1:
        raise ValueError(f"he_cue must be in [0, 1], got {he_cue!r}")
    size = int(size)
    if label == "normal" and he_cue < 1:
        n, kinds = _normal_towards_tumour(rng, size, he_cue)
    else:
        n = int(round(rng.uniform(*_CELLS[label]) * size * size / SIZE**2))
        kinds = rng.choice(_KINDS[label], size=n, p=_KIND_SHARE[label])
    geos = sorted((cell_shapes._geometry(rng, k) for k in kinds), key=lambda g: -g["extent"])
    fibres = cell_shapes._noise(rng, (size, size), 1.5)
    fibres = fibres + 0.6 * cell_shapes._noise(rng, (size, size), 6.0)
    conc = [np.full((size, size), 0.05), np.clip(0.35 + 0.1 * fibres, 0.1, 0.6)]
    labels = np.zeros((size, size), np.uint16)
    placed = []
    for geo in geos:
        reach = geo["extent"]
        for _ in range(100):
            cy, cx = rng.uniform(reach + 1, size - reach - 1, 2)
            gap = rng.uniform(-1.0, 3.0)
            if all(np.hypot(cy - py, cx - px) >= reach + pr + gap for py, px, pr in placed):
                placed.append((cy, cx, reach))
                cell_shapes._paint(geo, rng, conc, labels, (cy, cx), 1.0, len(placed))
                break
    p = rng.uniform(*_POSITIVE[label])
    positive = rng.random(len(placed)) < p
    dab_level = np.concatenate([[0.0], np.where(positive, rng.uniform(0.7, 1.5, len(placed)), 0)])
    dab = dab_level[labels] * (1 + 0.15 * cell_shapes._noise(rng, (size, size), 1.2))
    he = _render(rng, [conc[0], conc[1], np.zeros_like(dab)])
    ki67 = _render(rng, [0.5 * conc[0], np.zeros_like(dab), np.maximum(dab, 0)])
    return Twin(he=he, ki67=ki67, instances=labels, positive=positive, label=label)


def _normal_towards_tumour(rng, size, he_cue):
    """A normal tile's cell count and nucleus kinds at `he_cue` < 1: the count range
    interpolated between normal's (1) and the tumour's (0), each nucleus of the tumour's
    kinds with probability 1 − he_cue."""
    (n_lo, n_hi), (t_lo, t_hi) = _CELLS["normal"], _CELLS["tumour"]
    low, high = he_cue * n_lo + (1 - he_cue) * t_lo, he_cue * n_hi + (1 - he_cue) * t_hi
    n = int(round(rng.uniform(low, high) * size * size / SIZE**2))
    tumour_like = rng.random(n) >= he_cue
    normal = rng.choice(_KINDS["normal"], size=n, p=_KIND_SHARE["normal"])
    tumour = rng.choice(_KINDS["tumour"], size=n, p=_KIND_SHARE["tumour"])
    return n, np.where(tumour_like, tumour, normal)


def write_dataset(out, *, n_train, n_val, n_test, n_reference=10, seed=0, size=SIZE, he_cue=1.0):
    """Writes a DATA_ROOT of H&E patches with their Ki-67 twins and the truth.

    `labeled/<split>/<class>/<patient>__k<index>.png` (H&E), `paired/KI67/<split>/...` (the
    Ki-67 twin of the same name), `masks/<split>/...` (uint16 nuclei), `ki67/<split>.csv`
    (file, class, nuclei, positive, index), `reference/<stain>/ref<index>.png` (unpaired
    layouts) and dataset.json (source stain HE, stains HE and KI67). Classes are balanced
    per split; a patient's 2–6 patches share a class; patients are disjoint across splits.
    Each image depends only on (seed, split, index): equal arguments give equal bytes.
    `he_cue`: how plainly H&E shows the class (`make_twin`; 1, the default, is the
    phantoms as they always were, byte for byte). The unpaired reference images keep 1.

    Returns:
      {"path", "counts": {split: {class: n}}, "nuclei": {split: n}}.
    """
    cells._check_counts(n_train=n_train, n_val=n_val, n_test=n_test, n_reference=n_reference)
    cells._check_counts(seed=seed)
    out, sizes = pathlib.Path(out), {"train": n_train, "val": n_val, "test": n_test}
    summary = {"path": str(out), "counts": {}, "nuclei": {}}
    first = 0
    for split in _SPLITS:
        code = _CODES[split]
        plan = cells._plan(seed, code, int(sizes[split]), first, CLASSES, (2, 7), True)
        rows = []
        for index, (label, patient) in enumerate(plan):
            twin = make_twin(cells._rng(seed, code, index), size, label, he_cue)
            name = pathlib.Path(split, label, f"{patient}__k{index:05d}.png")
            cells._save(out / "labeled" / name, twin.he)
            cells._save(out / "paired" / "KI67" / name, twin.ki67)
            cells._save(out / "masks" / name, twin.instances)
            n, k = len(twin.positive), int(twin.positive.sum())
            rows.append([name.as_posix(), label, n, k, f"{twin.index:.6f}"])
        (out / "ki67").mkdir(parents=True, exist_ok=True)
        with open(out / "ki67" / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["file", "class", "nuclei", "positive", "index"])
            writer.writerows(rows)
        summary["counts"][split] = {c: sum(r[1] == c for r in rows) for c in CLASSES}
        summary["nuclei"][split] = sum(r[2] for r in rows)
        first += len({p for _, p in plan})
        logging.info("ihc phantoms: %d %s twins written to %s", len(rows), split, out)
    code = _CODES["reference"]
    for index in range(n_reference):
        for s, stain in enumerate(STAINS):
            rng = cells._rng(seed, code, index, s)
            twin = make_twin(rng, size, CLASSES[int(rng.integers(2))])
            image = twin.he if stain == "HE" else twin.ki67
            cells._save(out / "reference" / stain / f"ref{index:05d}.png", image)
    meta = {
        "source_stain": "HE",
        "stains": list(STAINS),
        "classes": list(CLASSES),
        "positive_class": "tumour",  # the MIL job's positive class (never folder order)
        "tasks": {},
        "generator": {
            "name": "kerasg2c.data.ihc_phantoms",
            "seed": seed,
            "size": size,
            **({"he_cue": he_cue} if he_cue != 1 else {}),
        },
        "stain_matrix": cell_shapes.STAIN_MATRIX.tolist(),
    }
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    return summary


def write_preview(path, *, seed=0, size=SIZE, per_class=2, he_cue=1.0):
    """Writes a PNG: per class, `per_class` rows of H&E | Ki-67 twins."""
    cells._check_counts(seed=seed, per_class=per_class)
    code, pad, rows = _CODES["preview"], 2, []
    for c, label in enumerate(CLASSES):
        for i in range(per_class):
            twin = make_twin(cells._rng(seed, code, c, i), size, label, he_cue)
            pair = [np.pad(x, ((pad, pad), (pad, pad), (0, 0)), constant_values=255)
                    for x in (twin.he, twin.ki67)]  # fmt: skip
            rows.append(np.concatenate(pair, axis=1))
    cells._save(pathlib.Path(path), np.concatenate(rows, 0))


def _define_flags():
    flags.DEFINE_string("out", None, "DATA_ROOT to write.")
    flags.DEFINE_integer("n_train", 40, "Training twins.")
    flags.DEFINE_integer("n_val", 12, "Validation twins.")
    flags.DEFINE_integer("n_test", 12, "Test twins.")
    flags.DEFINE_integer("n_reference", 10, "Unpaired reference images per stain.")
    flags.DEFINE_integer("size", SIZE, "Image side in pixels (>= 64).")
    flags.DEFINE_integer("seed", 0, "Seed (>= 0); equal seeds give byte-identical output.")
    flags.DEFINE_string("preview", None, "Optional PNG: H&E | Ki-67 twins, per class.")
    flags.DEFINE_float("he_cue", 1.0, "How plainly H&E shows the class, in [0, 1] (1: as ever).")


def main(argv):
    del argv
    f = flags.FLAGS
    counts = {k: getattr(f, k) for k in ("n_train", "n_val", "n_test", "n_reference")}
    if not 0 <= f.he_cue <= 1:
        raise app.UsageError(f"--he_cue={f.he_cue}: expected a value in [0, 1]", exitcode=2)
    cli.write_and_preview(
        "ihc phantoms",
        f.out,
        f.preview,
        lambda out: write_dataset(out, **counts, seed=f.seed, size=f.size, he_cue=f.he_cue),
        lambda png: write_preview(png, seed=f.seed, size=f.size, he_cue=f.he_cue),
    )


if __name__ == "__main__":
    _define_flags()  # only when run as a program: importing the module defines no flags
    app.run(main)
