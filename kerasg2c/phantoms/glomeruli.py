"""Synthetic stain phantoms: glomerulus-like patches rendered in four stains.

Each patch starts from one *layout* (`glomerulus_layout.make_layout`): concentration maps
of what a stain sees (nuclear chromatin, cytoplasm, mesangial matrix, basement membrane)
and the lumina. The same layout is rendered in every stain by the Beer–Lambert law: light
of intensity I0 crossing a stained section decays exponentially in the amount of dye, so
the optical density OD = -log(I / I0) is additive over components, OD = sum_k c_k * v_k,
with c_k the concentration map of component k and v_k its RGB absorption vector in that
stain (the OD of a unit layer, v = -log(rgb / I0)). The image is I = I0 * exp(-OD),
I0 = 255, then blurred and noised.

Classes follow glomerular morphology: `noa` (normal: open capillary loops, thin mesangium,
many nuclei), `ss` (segmental sclerosis: matrix fills one sector of the tuft, where loops
collapse and nuclei are sparse), `gs` (global sclerosis: the whole retracted tuft is
matrix with few nuclei; thick capsule, periglomerular fibrosis). `write_dataset` writes a
DATA_ROOT as in docs/DATA.md: `labeled/` (PAS), `reference/` (unpaired, every
stain) and `paired/` (the labeled layouts in the other stains: translation ground truth).

`difficulty` in [0, 1] makes the classes overlap (0 gives the original, easy phantoms byte
for byte). As it rises the ss sclerotic sector narrows to a small, fainter segment; gs
sclerosis becomes partial and patchy (open loops and nuclei survive), its tuft retracts less
and its thick capsule, wide Bowman's space and fibrotic halo fade; noa gets mesangial matrix
expansion; stain-intensity jitter, noise and blur grow. PAS also stains matrix more like
cytoplasm (faint magenta on pink) while Masson (blue on red) and PASM (black on pale) keep
their matrix contrast, so faint sclerosis is plainer in those stains than in PAS.

`pas_matrix_fade` in [0, 1] sets that last effect on its own: the fraction of the way from
PAS's matrix absorption to its cytoplasm's (0: PAS shows matrix in its own colour, as
plainly as the other stains show it; 1: matrix and cytoplasm absorb alike). None (the
default) takes it from `difficulty`, 0.45 × difficulty, and writes the files of the
generator without the knob byte for byte. Only PAS images depend on it.

    python -m kerasg2c.phantoms.glomeruli --out=/tmp/phantoms --size=64 --preview=/tmp/grid.png

Examples:

    kerasg2c phantoms --out=data/phantoms --size=64 --preview=data/phantoms.png
    kerasg2c phantoms --out=data/phantoms_hard --difficulty=0.7 --n_train=300
"""

import collections
import itertools
import json
import pathlib

import numpy as np
from absl import app, flags, logging
from PIL import Image
from scipy import ndimage

from kerasg2c.phantoms import cli
from kerasg2c.phantoms.glomerulus_layout import CLASSES, make_layout

STAINS = ("PAS", "HE", "MASSON", "PASM")
CLASS_FREQUENCIES = (0.6, 0.15, 0.25)
SOURCE_STAIN = "PAS"
TASKS = {"s_vs_noa": {"s": ["ss", "gs"], "noa": ["noa"]}, "ss_vs_gs": {"ss": ["ss"], "gs": ["gs"]}}
I0 = 255.0

_SPLITS = ("train", "val", "test")
_COMPONENTS = ("chromatin", "cytoplasm", "matrix", "membrane")
# RGB of a unit-concentration layer of each component (order of _COMPONENTS), and of the
# empty slide (lumen), per stain.
_COLOURS = {
    "PAS": ((70, 60, 150), (235, 200, 228), (215, 85, 185), (185, 40, 150), (248, 242, 248)),
    "HE": ((70, 35, 125), (240, 155, 200), (235, 130, 190), (220, 105, 170), (250, 242, 246)),
    "MASSON": ((60, 45, 70), (215, 60, 80), (70, 110, 205), (55, 85, 195), (246, 244, 248)),
    "PASM": ((120, 105, 115), (232, 218, 216), (60, 55, 55), (30, 25, 25), (245, 240, 228)),
}
_OD = {s: -np.log(np.asarray(c, np.float32) / I0) for s, c in _COLOURS.items()}
_LOG_EVERY = 500
# Random streams: (seed, code, index, stream) with one code per split, per reference stain
# and for the preview, so every image has its own generator.
_CODES = {name: code for code, name in enumerate((*_SPLITS, *STAINS, "preview"))}
_LAYOUT, _PLAN, _RENDER = 0, 1, 2  # stream ids; rendering in stain s uses _RENDER + s


def render(layout, stain, rng, pas_matrix_fade=None):
    """Renders `layout` in `stain` by Beer–Lambert optical density.

    OD = sum_k c_k * v_k + OD_slide with per-component stain-intensity jitter, then
    RGB = I0 * exp(-OD), a slight Gaussian blur and Gaussian noise. The layout's
    `difficulty` widens the jitter, blur and noise and, in PAS, moves the matrix's
    absorption towards the cytoplasm's (a weak PAS: faint magenta matrix on pink).

    Args:
      layout: a `Layout` from `make_layout`.
      stain: one of `STAINS`.
      rng: a `np.random.Generator` for the jitter, blur and noise.
      pas_matrix_fade: in PAS, the fraction of the way the matrix's absorption moves
        towards the cytoplasm's; None = 0.45 × the layout's difficulty.

    Returns:
      A uint8 array of shape (H, W, 3).
    """
    if stain not in _OD:
        raise ValueError(f"stain must be one of {STAINS}, got {stain!r}")
    k, d = len(_COMPONENTS), layout.difficulty
    conc = np.stack([getattr(layout, name) for name in _COMPONENTS], axis=-1)
    od_unit = _OD[stain][:k]
    fade = 0.45 * d if pas_matrix_fade is None else float(pas_matrix_fade)
    if fade and stain == "PAS":
        matrix = _COMPONENTS.index("matrix")
        od_unit = od_unit.copy()
        od_unit[matrix] += fade * (od_unit[_COMPONENTS.index("cytoplasm")] - od_unit[matrix])
    jitter = rng.uniform(0.85 - 0.15 * d, 1.15 + 0.15 * d, k) * rng.uniform(
        0.9 - 0.1 * d, 1.1 + 0.1 * d
    )
    absorption = jitter[:, None] * od_unit * rng.normal(1.0, 0.03 + 0.03 * d, (k, 3))
    od = conc @ absorption.astype(np.float32) + _OD[stain][k]  # + the empty slide's OD
    rgb = I0 * np.exp(-od)
    sigma = rng.uniform(0.3, 0.7 + 0.6 * d) * max(1.0, layout.nuclei.shape[0] / 128)
    rgb = ndimage.gaussian_filter(rgb, sigma=(sigma, sigma, 0))
    rgb += rng.normal(0.0, rng.uniform(1.0, 4.0 + 6.0 * d), rgb.shape).astype(np.float32)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _rng(seed, *keys):
    """A generator that depends only on (seed, *keys), never on what was drawn before."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _class_counts(n):
    """Splits `n` by CLASS_FREQUENCIES (largest remainder), at least 1 per class if n >= 3."""
    exact = np.asarray(CLASS_FREQUENCIES) * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact, kind="stable")[: n - counts.sum()]] += 1
    while n >= len(CLASSES) and counts.min() == 0:
        counts[counts.argmax()] -= 1
        counts[counts.argmin()] += 1
    return dict(zip(CLASSES, counts.tolist()))


def _split_plan(seed, split, n, first_patient):
    """(label, patient) per index of one split: shuffled labels, 2–6 patches per patient."""
    rng = _rng(seed, _CODES[split], 0, _PLAN)
    labels = rng.permutation([c for c, k in _class_counts(n).items() for _ in range(k)])
    patients = np.repeat(np.arange(n), rng.integers(2, 7, n))[:n] + first_patient
    return list(zip(labels.tolist(), [f"p{p:04d}" for p in patients]))


def _split_images(split, plan, seed, size, difficulty, fade):
    """Yields (path, image) for each labeled (PAS) patch and its paired renderings."""
    code = _CODES[split]
    for index, (label, patient) in enumerate(plan):
        layout = make_layout(_rng(seed, code, index, _LAYOUT), size, label, difficulty)
        relative = pathlib.Path(split, label, f"{patient}__g{index:05d}.png")
        for s, stain in enumerate(STAINS):
            root = ("labeled",) if stain == SOURCE_STAIN else ("paired", stain)
            image = render(layout, stain, _rng(seed, code, index, _RENDER + s), fade)
            yield pathlib.Path(*root, relative), image


def _reference_images(n, seed, size, difficulty, fade):
    """Yields (path, image) for `n` patches per stain, each stain from its own layouts."""
    for stain in STAINS:
        code = _CODES[stain]
        for index in range(n):
            rng = _rng(seed, code, index, _LAYOUT)
            label = CLASSES[rng.choice(len(CLASSES), p=CLASS_FREQUENCIES)]
            layout = make_layout(rng, size, label, difficulty)
            image = render(layout, stain, _rng(seed, code, index, _RENDER), fade)
            yield pathlib.Path("reference", stain, f"ref{index:05d}.png"), image


def _save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, compress_level=1)


def write_dataset(
    out, *, n_train, n_val, n_test, n_reference, size, seed=0, difficulty=0.0, pas_matrix_fade=None
):
    """Writes a phantom DATA_ROOT (docs/DATA.md) under `out`.

    Writes `labeled/<split>/<class>/<patient>__<name>.png` (PAS, patients disjoint across
    splits), `paired/<stain>/<split>/<class>/...` (each labeled layout in every other stain),
    `reference/<stain>/<name>.png` (`n_reference` unpaired patches per stain) and, last,
    `dataset.json`. Every image depends only on (seed, split, index, difficulty) so equal
    arguments give byte-identical files. `difficulty` in [0, 1] makes the classes overlap
    (`make_layout`); dataset.json's "generator" records it when it is not 0 (difficulty 0
    writes exactly the files of the generator without the knob). `pas_matrix_fade` (module
    docstring) is recorded when given.

    Returns:
      {"path", "counts": {split: {class: n}}, "patients": {split: n}, "n_reference", "stains"}.
    """
    if not 0 <= difficulty <= 1:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty!r}")
    if pas_matrix_fade is not None and not 0 <= pas_matrix_fade <= 1:
        raise ValueError(f"pas_matrix_fade must be in [0, 1] or None, got {pas_matrix_fade!r}")
    fade = pas_matrix_fade
    out = pathlib.Path(out)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    plans, first_patient = {}, 0
    for split in _SPLITS:
        plans[split] = _split_plan(seed, split, sizes[split], first_patient)
        first_patient += len({p for _, p in plans[split]})
    images = itertools.chain(
        *(_split_images(split, plans[split], seed, size, difficulty, fade) for split in _SPLITS),
        _reference_images(n_reference, seed, size, difficulty, fade),
    )
    total = len(STAINS) * (n_train + n_val + n_test + n_reference)
    for count, (path, image) in enumerate(images, 1):
        _save(out / path, image)
        if count % _LOG_EVERY == 0 or count == total:
            logging.info("phantoms: %d/%d images written to %s", count, total, out)
    generator = {"name": "kerasg2c.data.phantoms", "seed": seed, "size": size}
    if difficulty:
        generator["difficulty"] = float(difficulty)
    if fade is not None:
        generator["pas_matrix_fade"] = float(fade)
    meta = {"source_stain": SOURCE_STAIN, "stains": list(STAINS), "classes": list(CLASSES)}
    meta |= {"tasks": TASKS, "generator": generator}
    out.mkdir(parents=True, exist_ok=True)
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    counts = {s: collections.Counter(label for label, _ in plans[s]) for s in _SPLITS}
    return {
        "path": str(out),
        "counts": {s: {c: counts[s][c] for c in CLASSES} for s in _SPLITS},
        "patients": {s: len({p for _, p in plans[s]}) for s in _SPLITS},
        "n_reference": n_reference,
        "stains": list(STAINS),
    }


def write_preview(path, *, size, seed=0, difficulty=0.0, pas_matrix_fade=None):
    """Writes a PNG grid: one layout per class (rows) rendered in every stain (columns)."""
    code, rows = _CODES["preview"], []
    for c, label in enumerate(CLASSES):
        layout = make_layout(_rng(seed, code, c, _LAYOUT), size, label, difficulty)
        rngs = [_rng(seed, code, c, _RENDER + i) for i in range(len(STAINS))]
        images = [render(layout, st, r, pas_matrix_fade) for st, r in zip(STAINS, rngs)]
        tiles = [np.pad(im, ((2, 2), (2, 2), (0, 0)), constant_values=255) for im in images]
        rows.append(np.concatenate(tiles, axis=1))
    scale = max(1, 192 // size)
    _save(pathlib.Path(path), np.concatenate(rows, 0).repeat(scale, 0).repeat(scale, 1))


def _define_flags():
    flags.DEFINE_string("out", None, "DATA_ROOT to write.")
    flags.DEFINE_integer("n_train", 300, "Labeled training patches.")
    flags.DEFINE_integer("n_val", 60, "Labeled validation patches.")
    flags.DEFINE_integer("n_test", 60, "Labeled test patches.")
    flags.DEFINE_integer("n_reference", 100, "Unpaired reference patches per stain.")
    flags.DEFINE_integer("size", 64, "Patch side in pixels.")
    flags.DEFINE_integer("seed", 0, "Seed (>= 0); equal seeds give byte-identical datasets.")
    flags.DEFINE_float("difficulty", 0.0, "Class overlap in [0, 1]; 0 = the easy phantoms.")
    flags.DEFINE_float(
        "pas_matrix_fade", None, "PAS matrix towards cytoplasm, [0, 1]; unset = 0.45 × difficulty."
    )
    flags.DEFINE_string("preview", None, "Optional PNG: classes (rows) x stains (columns).")


def main(argv):
    del argv
    f = flags.FLAGS
    counts = {k: getattr(f, k) for k in ("n_train", "n_val", "n_test", "n_reference")}
    look = {"size": f.size, "seed": f.seed, "difficulty": f.difficulty}
    look["pas_matrix_fade"] = f.pas_matrix_fade
    cli.write_and_preview(
        "phantoms",
        f.out,
        f.preview,
        lambda out: write_dataset(out, **counts, **look),
        lambda png: write_preview(png, **look),
    )


if __name__ == "__main__":
    _define_flags()  # only when run as a program: importing the module defines no flags
    app.run(main)
