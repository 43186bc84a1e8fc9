"""Synthetic stain phantoms: glomerulus-like patches rendered in four stains.

Each patch starts from one *layout*: concentration maps of what a stain sees (nuclear
chromatin, cytoplasm, mesangial matrix, basement membrane) and the lumina. The same layout
is rendered in every stain by the Beer–Lambert law: light of intensity I0 crossing a
stained section decays exponentially in the amount of dye, so the optical density
OD = -log(I / I0) is additive over components, OD = sum_k c_k * v_k, with c_k the
concentration map of component k and v_k its RGB absorption vector in that stain (the OD
of a unit layer, v = -log(rgb / I0)). The image is I = I0 * exp(-OD), I0 = 255, then
blurred and noised.

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

    python -m kerasg2c.phantoms.glomeruli --out=/tmp/phantoms --size=64 --preview=/tmp/grid.png
"""

import collections
import dataclasses
import itertools
import json
import pathlib

import numpy as np
from absl import app, flags, logging
from PIL import Image
from scipy import ndimage
from skimage import draw

STAINS = ("PAS", "HE", "MASSON", "PASM")
CLASSES = ("noa", "ss", "gs")
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


@dataclasses.dataclass(frozen=True)
class Layout:
    """Stain-independent maps of one patch (H×W; floats are concentrations in [0, 1])."""

    label: str
    tuft: np.ndarray  # bool: the glomerular tuft, inside Bowman's space
    lumen: np.ndarray  # bool: no tissue (Bowman's space, capillary and tubular lumina)
    loops: np.ndarray  # bool: open capillary-loop lumina
    membrane: np.ndarray  # Bowman's capsule and glomerular basement membrane
    matrix: np.ndarray  # mesangial, sclerotic and interstitial matrix
    cytoplasm: np.ndarray
    chromatin: np.ndarray  # nuclear (haematoxylin-like) stain
    nuclei: np.ndarray  # bool
    sclerosis: np.ndarray  # where the tuft is sclerosed
    difficulty: float = 0.0  # `render` adds jitter, noise, blur and weak PAS matrix with it


def _smooth_noise(rng, size, sigma):
    """Unit-variance Gaussian random field; wide ones are drawn coarse and upsampled."""
    step = max(1, int(sigma // 3))
    coarse = rng.standard_normal((-(-size // step),) * 2).astype(np.float32)
    field = ndimage.gaussian_filter(coarse, sigma / step)
    if step > 1:
        field = ndimage.zoom(field, step, order=1)[:size, :size]
    return field / (field.std() + 1e-6)


def _polar(rng, size):
    """Normalised radius (1 at the capsule's inner edge), angle and radius in pixels."""
    yy, xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5) / size - 0.5
    dy, dx = yy - rng.uniform(-0.08, 0.08), xx - rng.uniform(-0.08, 0.08)
    angle, aspect = rng.uniform(0, np.pi), rng.uniform(0.8, 1.0)
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = (dy * np.cos(angle) - dx * np.sin(angle)) / aspect
    theta = np.arctan2(v, u)
    amplitude = rng.uniform(0, 0.05, (3, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, (3, 1, 1)).astype(np.float32)
    k = np.arange(2, 5, dtype=np.float32)[:, None, None]
    wobble = 1 + (amplitude * np.cos(k * theta + phase)).sum(0)
    radius = rng.uniform(0.3, 0.4)
    return np.hypot(u, v) / (radius * wobble), theta, radius * size


def _side_stream(rng):
    """A generator beside `rng` (a jumped copy of its state): drawing from it leaves `rng`'s
    own draws alone, so a layout keeps its gross geometry as `difficulty` changes."""
    return np.random.Generator(rng.bit_generator.jumped())


def _sclerosis(rng, label, rho_tuft, theta, difficulty=0.0, aux=None):
    """Sclerosis weight: none (noa), one peripheral sector (ss) or everywhere (gs).

    With `difficulty` > 0 (drawing from the side stream `aux`) the ss sector narrows, down to
    a small segment, and fades; gs sclerosis becomes partial and patchy.
    """
    if label == "noa":
        return np.zeros_like(rho_tuft)
    if label == "gs":
        scl = np.ones_like(rho_tuft)
        if difficulty:
            size = len(rho_tuft)
            patches = np.clip(0.5 + 0.4 * _smooth_noise(aux, size, 0.08 * size), 0, 1)
            scl -= difficulty * (aux.uniform(0.1, 0.35) + 0.35 * patches)
        return scl
    gap = np.abs(np.angle(np.exp(1j * (theta - rng.uniform(-np.pi, np.pi)))))
    half_width = rng.uniform(0.9, 1.4)
    if difficulty:
        half_width *= 1 - difficulty * aux.uniform(0.4, 0.75)
    sector = np.clip((half_width - gap) / 0.3 + 0.5, 0, 1)
    if difficulty:
        sector *= 1 - difficulty * aux.uniform(0.1, 0.4)
    return (sector * np.clip((rho_tuft - 0.15) / 0.25, 0, 1)).astype(np.float32)


def _sample(rng, mask, n):
    """`n` random sub-pixel positions inside `mask` (rows, cols)."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0 or n <= 0:
        return np.zeros((2, 0))
    pick = rng.integers(len(rows), size=n)
    return np.stack([rows[pick], cols[pick]]) + rng.uniform(-0.5, 0.5, (2, n))


def _ellipses(rng, size, centres, radius, values=None):
    """Paint random ellipses of mean radius `radius` (per centre) into a float map."""
    out = np.zeros((size, size), np.float32)
    n = centres.shape[1]
    radii = radius * rng.uniform(0.8, 1.25, (2, n))
    rotations = rng.uniform(-np.pi, np.pi, n)
    values = np.ones(n) if values is None else values
    for (r, c), (rr_, cr_), rot, val in zip(centres.T, radii.T, rotations, values):
        rr, cc = draw.ellipse(r, c, rr_, cr_, shape=out.shape, rotation=rot)
        out[rr, cc] = np.maximum(out[rr, cc], val)
    return out


def _at(field, centres):
    """Values of `field` at the pixels nearest to sub-pixel `centres` (rows, cols)."""
    idx = np.clip(np.rint(centres).astype(int), 0, field.shape[0] - 1)
    return field[idx[0], idx[1]]


def _loops(rng, size, tuft, scl, collapse=0.9, shrink=0.6):
    """Capillary-loop lumina; in sclerosed tuft most (`collapse`) close, the rest shrink."""
    radius = max(1.5, 0.035 * size)
    centres = _sample(rng, tuft, int(0.4 * tuft.sum() / (np.pi * radius**2)))
    weight = _at(scl, centres)
    keep = rng.uniform(size=len(weight)) >= collapse * weight
    return (_ellipses(rng, size, centres[:, keep], radius * (1 - shrink * weight[keep])) > 0) & tuft


def _nuclei(rng, size, tissue, density, coverage):
    """Chromatin map of nuclei scattered over `tissue`, thinned by `density` in [0, 1]."""
    radius = max(1.3, 0.016 * size)
    centres = _sample(rng, tissue, int(coverage * tissue.sum() / (np.pi * radius**2)))
    keep = rng.uniform(size=centres.shape[1]) < _at(density, centres)
    return _ellipses(rng, size, centres[:, keep], radius, rng.uniform(0.85, 1.0, keep.sum()))


def _stroma(rng, size, rho_tuft, tuft, scl, outside, halo, expansion=0.0, fibrosis=0.6):
    """Matrix and cytoplasm: central mesangium, sclerosis, interstitium, fibrotic halo.

    `expansion` thickens the mesangium; `fibrosis` is the halo's matrix concentration.
    """
    mesangium = np.clip(0.2 + 0.15 * _smooth_noise(rng, size, 0.04 * size), 0, 0.45)
    if expansion:  # mesangial matrix expansion
        mesangium = np.clip(mesangium + expansion, 0, 0.45 + expansion)
    mesangium *= 1.2 - rho_tuft  # densest at the stalk
    sclerotic = scl * rng.uniform(0.85, 1.0)
    matrix = np.maximum.reduce([tuft * mesangium, sclerotic, 0.15 * outside, fibrosis * halo])
    cytoplasm = 0.35 * tuft * (1 - 0.7 * scl) + 0.55 * (outside & ~halo)
    return matrix, cytoplasm


def make_layout(rng, size, label, difficulty=0.0):
    """Draws one glomerulus-like layout.

    Args:
      rng: a `np.random.Generator`; the layout depends on it alone. With `difficulty` > 0
        its bit generator must support `jumped()` (those of `np.random.default_rng` do).
      size: side of the square patch in pixels (64 to 256 is typical).
      label: one of `CLASSES`.
      difficulty: in [0, 1]; how much the classes overlap (module docstring). 0 draws
        exactly the original layouts; a higher value keeps the gross geometry for one `rng`.

    Returns:
      A `Layout`.
    """
    if label not in CLASSES:
        raise ValueError(f"label must be one of {CLASSES}, got {label!r}")
    if not 0 <= difficulty <= 1:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty!r}")
    d = float(difficulty)
    aux = _side_stream(rng) if d else None  # extra draws; `rng`'s own sequence is unchanged
    gs = label == "gs"
    rho, theta, radius_px = _polar(rng, size)
    # A sclerosed tuft retracts (less so with difficulty); its capsule thickens.
    edge = rng.uniform(0.62 + 0.2 * d, 0.75 + 0.13 * d) if gs else rng.uniform(0.86, 0.92)
    thick = (1.8 - 0.7 * d) if gs else 1.0
    width = max(1.0, 0.018 * size) * thick * rng.uniform(0.8, 1.2) / radius_px
    tuft, capsule, outside = rho < edge, (rho >= 1) & (rho < 1 + width), rho >= 1 + width
    halo = outside & (rho < 1 + width + 0.15 * (1 - 0.5 * d)) & gs  # periglomerular fibrosis
    scl = _sclerosis(rng, label, rho / edge, theta, d, aux) * tuft
    loops = _loops(rng, size, tuft, scl, 0.9 * (1 - 0.35 * d), 0.6 * (1 - 0.4 * d))
    gbm = (ndimage.distance_transform_edt(~loops) <= max(1.0, 0.012 * size)) & ~loops & tuft
    tubules = outside & (_smooth_noise(rng, size, 0.06 * size) > 1.1)
    lumen = ((rho >= edge) & (rho < 1)) | loops | tubules
    expansion = d * aux.uniform(0.05, 0.35) if d and label == "noa" else 0.0
    fibrosis = 0.6 * (1 - 0.6 * d)
    matrix, cytoplasm = _stroma(
        rng, size, rho / edge, tuft, scl, outside, halo, expansion, fibrosis
    )
    density = np.where(tuft, 1 - 0.9 * (1 - 0.3 * d) * scl, 0.25)
    chromatin = _nuclei(rng, size, ~lumen & ~capsule & ~gbm, density, 0.18) * ~lumen
    nuclei = chromatin > 0
    fill = (1 + 0.2 * _smooth_noise(rng, size, 1.5)) * ~lumen * ~nuclei  # texture; nuclei displace
    return Layout(
        label=label,
        tuft=tuft,
        lumen=lumen,
        loops=loops,
        membrane=np.maximum(capsule, 0.8 * gbm * (1 - scl)).astype(np.float32),
        matrix=(matrix * fill).astype(np.float32),
        cytoplasm=(cytoplasm * fill).astype(np.float32),
        chromatin=chromatin,
        nuclei=nuclei,
        sclerosis=scl.astype(np.float32),
        difficulty=d,
    )


def render(layout, stain, rng):
    """Renders `layout` in `stain` by Beer–Lambert optical density.

    OD = sum_k c_k * v_k + OD_slide with per-component stain-intensity jitter, then
    RGB = I0 * exp(-OD), a slight Gaussian blur and Gaussian noise. The layout's
    `difficulty` widens the jitter, blur and noise and, in PAS, moves the matrix's
    absorption towards the cytoplasm's (a weak PAS: faint magenta matrix on pink).

    Args:
      layout: a `Layout` from `make_layout`.
      stain: one of `STAINS`.
      rng: a `np.random.Generator` for the jitter, blur and noise.

    Returns:
      A uint8 array of shape (H, W, 3).
    """
    if stain not in _OD:
        raise ValueError(f"stain must be one of {STAINS}, got {stain!r}")
    k, d = len(_COMPONENTS), layout.difficulty
    conc = np.stack([getattr(layout, name) for name in _COMPONENTS], axis=-1)
    od_unit = _OD[stain][:k]
    if d and stain == "PAS":
        matrix = _COMPONENTS.index("matrix")
        od_unit = od_unit.copy()
        od_unit[matrix] += 0.45 * d * (od_unit[_COMPONENTS.index("cytoplasm")] - od_unit[matrix])
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


def _split_images(split, plan, seed, size, difficulty):
    """Yields (path, image) for each labeled (PAS) patch and its paired renderings."""
    code = _CODES[split]
    for index, (label, patient) in enumerate(plan):
        layout = make_layout(_rng(seed, code, index, _LAYOUT), size, label, difficulty)
        relative = pathlib.Path(split, label, f"{patient}__g{index:05d}.png")
        for s, stain in enumerate(STAINS):
            root = ("labeled",) if stain == SOURCE_STAIN else ("paired", stain)
            image = render(layout, stain, _rng(seed, code, index, _RENDER + s))
            yield pathlib.Path(*root, relative), image


def _reference_images(n, seed, size, difficulty):
    """Yields (path, image) for `n` patches per stain, each stain from its own layouts."""
    for stain in STAINS:
        code = _CODES[stain]
        for index in range(n):
            rng = _rng(seed, code, index, _LAYOUT)
            label = CLASSES[rng.choice(len(CLASSES), p=CLASS_FREQUENCIES)]
            layout = make_layout(rng, size, label, difficulty)
            image = render(layout, stain, _rng(seed, code, index, _RENDER))
            yield pathlib.Path("reference", stain, f"ref{index:05d}.png"), image


def _save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, compress_level=1)


def write_dataset(out, *, n_train, n_val, n_test, n_reference, size, seed=0, difficulty=0.0):
    """Writes a phantom DATA_ROOT (docs/DATA.md) under `out`.

    Writes `labeled/<split>/<class>/<patient>__<name>.png` (PAS, patients disjoint across
    splits), `paired/<stain>/<split>/<class>/...` (each labeled layout in every other stain),
    `reference/<stain>/<name>.png` (`n_reference` unpaired patches per stain) and, last,
    `dataset.json`. Every image depends only on (seed, split, index, difficulty) so equal
    arguments give byte-identical files. `difficulty` in [0, 1] makes the classes overlap
    (`make_layout`); dataset.json's "generator" records it when it is not 0 (difficulty 0
    writes exactly the files of the generator without the knob).

    Returns:
      {"path", "counts": {split: {class: n}}, "patients": {split: n}, "n_reference", "stains"}.
    """
    if not 0 <= difficulty <= 1:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty!r}")
    out = pathlib.Path(out)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    plans, first_patient = {}, 0
    for split in _SPLITS:
        plans[split] = _split_plan(seed, split, sizes[split], first_patient)
        first_patient += len({p for _, p in plans[split]})
    images = itertools.chain(
        *(_split_images(split, plans[split], seed, size, difficulty) for split in _SPLITS),
        _reference_images(n_reference, seed, size, difficulty),
    )
    total = len(STAINS) * (n_train + n_val + n_test + n_reference)
    for count, (path, image) in enumerate(images, 1):
        _save(out / path, image)
        if count % _LOG_EVERY == 0 or count == total:
            logging.info("phantoms: %d/%d images written to %s", count, total, out)
    generator = {"name": "kerasg2c.data.phantoms", "seed": seed, "size": size}
    if difficulty:
        generator["difficulty"] = float(difficulty)
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


def write_preview(path, *, size, seed=0, difficulty=0.0):
    """Writes a PNG grid: one layout per class (rows) rendered in every stain (columns)."""
    code, rows = _CODES["preview"], []
    for c, label in enumerate(CLASSES):
        layout = make_layout(_rng(seed, code, c, _LAYOUT), size, label, difficulty)
        rngs = [_rng(seed, code, c, _RENDER + i) for i in range(len(STAINS))]
        tiles = [
            np.pad(render(layout, st, r), ((2, 2), (2, 2), (0, 0)), constant_values=255)
            for st, r in zip(STAINS, rngs)
        ]
        rows.append(np.concatenate(tiles, axis=1))
    scale = max(1, 192 // size)
    _save(pathlib.Path(path), np.concatenate(rows, 0).repeat(scale, 0).repeat(scale, 1))


def _define_flags():
    flags.DEFINE_string("out", None, "DATA_ROOT to write.", required=True)
    flags.DEFINE_integer("n_train", 300, "Labeled training patches.")
    flags.DEFINE_integer("n_val", 60, "Labeled validation patches.")
    flags.DEFINE_integer("n_test", 60, "Labeled test patches.")
    flags.DEFINE_integer("n_reference", 100, "Unpaired reference patches per stain.")
    flags.DEFINE_integer("size", 64, "Patch side in pixels.")
    flags.DEFINE_integer("seed", 0, "Seed (>= 0); equal seeds give byte-identical datasets.")
    flags.DEFINE_float("difficulty", 0.0, "Class overlap in [0, 1]; 0 = the easy phantoms.")
    flags.DEFINE_string("preview", None, "Optional PNG: classes (rows) x stains (columns).")


def main(argv):
    del argv
    f = flags.FLAGS
    counts = {k: getattr(f, k) for k in ("n_train", "n_val", "n_test", "n_reference")}
    summary = write_dataset(f.out, **counts, size=f.size, seed=f.seed, difficulty=f.difficulty)
    logging.info("phantoms: %s", json.dumps(summary))
    if f.preview:
        write_preview(f.preview, size=f.size, seed=f.seed, difficulty=f.difficulty)
        logging.info("phantoms: preview written to %s", f.preview)


if __name__ == "__main__":
    _define_flags()  # only when run as a program: importing the module defines no flags
    app.run(main)
