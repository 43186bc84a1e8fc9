"""Synthetic cell phantoms: bone-marrow-like single cells and H&E tiles of many cells.

Five cell types follow the five cellular elements of bone marrow that the InfoWGAN-GP paper
clusters, which differ in nuclear size, chromatin openness, nuclear segmentation, cytoplasm
and stain intensity (equivalent nuclear diameters at tile scale):

- `myeloblast`: large (~24–31 px) round nucleus with open, vesicular chromatin (pale, coarse
  texture, one to three dark nucleoli) and a thin pale basophilic rim.
- `lymphocyte`: small (~17–21 px) round, dense, dark ("close phased") nucleus; scant
  cytoplasm (lymphocytes and normoblasts look alike).
- `neutrophil`: a dark nucleus of three to five overlapping lobes (~11–13 px each, 280–560
  px in all) along a curved chain ("segmented"); a wide rim of pink, granular cytoplasm.
- `monocyte`: large (~24–29 px) kidney-shaped (indented) nucleus with intermediate chromatin;
  abundant pale grey-pink cytoplasm.
- `megakaryocyte`: the largest (~29–34 px) nucleus, compactly lobulated, fairly dark; a wide
  deep-pink cytoplasm.

Colour follows the Beer–Lambert law with the Ruifrok–Johnston stain vectors (`STAIN_MATRIX`,
rows H, E, DAB as `skimage.color.rgb_from_hed`): OD = c_H·h + c_E·e and I = 255·exp(−OD),
then a slight blur and noise, so colour deconvolution recovers c_H and c_E (for
`skimage.color.rgb2hed`, c = its output × ln(1e6)). Nuclei have c_H >= 0.8 after stain
jitter (a haematoxylin image 255·exp(−c_H) <= 115) and everything else c_H <= ~0.35
(>= ~180), so a global threshold of 120 on that image separates them; at tile scale every
nucleus covers about 220–950 px.

Single cells (`make_cell`) are 32×32 crops, one cell centred on white, drawn at 0.6× tile
scale (±10 %), randomly rotated, with stain-intensity, hue, blur and noise jitter; a
`nuisance` level > 0 adds the variation of real segmented crops (`cell_nuisance`: off-centre,
neighbour fragments, stain and size), level 0 being these crops exactly. Tiles
(`make_tile`) put 25–40 touching or nearby cells (scaled with the area) on a textured eosin
background with a few fat spaces; the instance mask and each instance's type are known.

A tile is `abnormal` when myeloblasts are at least `ABNORMAL_SHARE` (20 %) of its cells (the
blast count that defines acute leukaemia; normal marrow has under 5 %), else `normal`. Its
type proportions are drawn from a Dirichlet mixture around a normal marrow (few blasts) or a
blast-rich one, each half the time, with the blast count kept clear of the threshold.

    python -m kerasg2c.phantoms.cells --out=/tmp/cells --preview=/tmp/cells.png
"""

import csv
import dataclasses
import io
import json
import pathlib

import numpy as np
from absl import app, flags, logging
from PIL import Image
from scipy import ndimage
from skimage import segmentation

from kerasg2c.phantoms import cell_nuisance

TYPES = ("myeloblast", "lymphocyte", "neutrophil", "monocyte", "megakaryocyte")
LABELS = ("normal", "abnormal")
ABNORMAL_TYPES = ("myeloblast",)
ABNORMAL_SHARE = 0.2
# Ruifrok & Johnston optical densities of a unit layer (rows: haematoxylin, eosin, DAB).
STAIN_MATRIX = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
CROP_SIZE = 32
CROP_SCALE = 0.6  # single cells are drawn at this fraction of tile scale
TILE_SIZE = 256
I0 = 255.0

_SPLITS = ("train", "val", "test")
_CODES = {
    name: code
    for code, name in enumerate(
        (*(f"cells/{s}" for s in _SPLITS), *(f"tiles/{s}" for s in _SPLITS), "preview")
    )
}
_PLAN, _IMAGE, _NUISANCE = 0, 1, 2  # stream ids
_LOG_EVERY = 1000


@dataclasses.dataclass(frozen=True)
class _Kind:
    """How a type is drawn (lengths in tile pixels, concentrations in OD units)."""

    radius: tuple  # equivalent nuclear radius range
    aspect: tuple  # minor/major axis ratio range of the nucleus (or of each lobe)
    lobes: tuple  # range of lobe counts (inclusive)
    chromatin: tuple  # mean haematoxylin concentration range of the nucleus
    texture: float  # relative amplitude of the chromatin texture (openness)
    nucleoli: tuple  # range of nucleolus counts
    rim: tuple  # cytoplasm width range, as a fraction of the nuclear radius
    cytoplasm: tuple  # (c_H, c_E) of the cytoplasm
    granules: float  # relative amplitude of the cytoplasm's granular texture
    indent: bool = False  # kidney-shaped nucleus


_KINDS = {
    "myeloblast": _Kind(
        (12.0, 15.5), (0.8, 1.0), (1, 1), (1.05, 1.25), 0.22, (1, 3), (0.15, 0.3),
        (0.22, 0.15), 0.1,
    ),
    "lymphocyte": _Kind(
        (8.5, 10.5), (0.85, 1.0), (1, 1), (1.8, 2.2), 0.05, (0, 0), (0.0, 0.15),
        (0.2, 0.2), 0.1,
    ),
    "neutrophil": _Kind(
        (5.6, 6.6), (0.8, 0.95), (3, 5), (1.6, 2.0), 0.07, (0, 0), (0.45, 0.7),
        (0.05, 0.6), 0.35,
    ),
    "monocyte": _Kind(
        (12.5, 15.0), (0.7, 0.85), (1, 1), (1.3, 1.5), 0.12, (0, 0), (0.45, 0.7),
        (0.12, 0.42), 0.15, indent=True,
    ),
    "megakaryocyte": _Kind(
        (9.0, 10.5), (0.8, 1.0), (3, 4), (1.45, 1.75), 0.1, (0, 0), (0.45, 0.65),
        (0.04, 0.8), 0.2,
    ),
}  # fmt: skip
# Mean type proportions (order of TYPES) of the two tile mixtures, without the blasts,
# whose share is drawn apart.
_MIXTURES = {
    "normal": (0.0, 0.38, 0.3, 0.24, 0.08),
    "abnormal": (0.0, 0.4, 0.2, 0.32, 0.08),
}
_BLAST_SHARE = {"normal": (0.0, 0.12), "abnormal": (0.3, 0.65)}


@dataclasses.dataclass(frozen=True)
class Tile:
    """One H&E tile and its ground truth."""

    image: np.ndarray  # uint8 (S, S, 3)
    instances: np.ndarray  # uint16 (S, S): 0 background, i = the i-th cell's nucleus
    types: tuple  # types[i - 1] is the type of instance i
    label: str  # `tile_label(counts)`

    @property
    def counts(self):
        """{type: number of cells} over TYPES."""
        return {t: self.types.count(t) for t in TYPES}

    @property
    def proportions(self):
        """{type: share of the tile's cells}."""
        return {t: n / max(1, len(self.types)) for t, n in self.counts.items()}


def tile_label(counts):
    """ "abnormal" when the ABNORMAL_TYPES are at least ABNORMAL_SHARE of the cells."""
    total = sum(counts.values())
    share = sum(counts.get(t, 0) for t in ABNORMAL_TYPES) / max(1, total)
    return LABELS[1] if total and share >= ABNORMAL_SHARE else LABELS[0]


def _check_type(cell_type):
    if cell_type not in _KINDS:
        raise ValueError(f"cell_type must be one of {TYPES}, got {cell_type!r}")


def _geometry(rng, cell_type):
    """Shape and stain of one cell, in tile pixels around its centre (dict)."""
    k = _KINDS[cell_type]
    radius = rng.uniform(*k.radius)
    n_lobes = int(rng.integers(k.lobes[0], k.lobes[1] + 1))
    lobes = []  # (dy, dx, semi-axis a, semi-axis b, rotation)
    if n_lobes == 1:
        aspect = rng.uniform(*k.aspect)
        lobes.append((0.0, 0.0, radius / np.sqrt(aspect), radius * np.sqrt(aspect), 0.0))
    elif cell_type == "neutrophil":  # a curved chain of lobes 1.45 radii apart
        bend = rng.uniform(1.5, 3.5) * radius
        step = 1.45 * radius / bend
        for i in range(n_lobes):
            phi = (i - (n_lobes - 1) / 2) * step
            r = radius * rng.uniform(0.9, 1.1)
            aspect = rng.uniform(*k.aspect)
            lobes.append(
                (bend * np.sin(phi), bend * (1 - np.cos(phi)), r / np.sqrt(aspect),
                 r * np.sqrt(aspect), rng.uniform(0, np.pi))
            )  # fmt: skip
    else:  # a compact, lobulated cluster around the centre
        for i in range(n_lobes):
            phi = 2 * np.pi * i / n_lobes + rng.uniform(-0.3, 0.3)
            dist = radius * rng.uniform(0.75, 0.9)
            r = radius * rng.uniform(0.9, 1.1)
            aspect = rng.uniform(*k.aspect)
            lobes.append(
                (dist * np.sin(phi), dist * np.cos(phi), r / np.sqrt(aspect),
                 r * np.sqrt(aspect), rng.uniform(0, np.pi))
            )  # fmt: skip
    lobes = np.asarray(lobes)
    lobes[:, :2] -= lobes[:, :2].mean(0)
    indent = None
    if k.indent:  # a notch on one long side: a bean or kidney
        a, b = lobes[0, 2], lobes[0, 3]
        indent = (b * rng.uniform(1.0, 1.15), 0.0, 0.4 * b, 0.45 * a)
    extent = float(np.max(np.hypot(lobes[:, 0], lobes[:, 1]) + lobes[:, 2]))
    nucleoli = [
        (*(radius * 0.45 * rng.uniform(-1, 1, 2)), rng.uniform(1.3, 2.2))
        for _ in range(int(rng.integers(k.nucleoli[0], k.nucleoli[1] + 1)))
    ]
    return {
        "lobes": lobes,
        "indent": indent,
        "nucleoli": nucleoli,
        "extent": extent,
        "rim": extent * rng.uniform(*k.rim) + rng.uniform(0.5, 1.5) * (k.rim[1] > 0.2),
        "rotation": rng.uniform(-np.pi, np.pi),
        "chromatin": rng.uniform(*k.chromatin),
        "texture": k.texture,
        "cytoplasm": np.asarray(k.cytoplasm) * rng.uniform(0.85, 1.15),
        "granules": k.granules,
        "wobble": rng.uniform(0, 0.08, 3),
        "phase": rng.uniform(0, 2 * np.pi, 3),
    }


def _noise(rng, shape, sigma):
    """Unit-variance smooth Gaussian noise."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field / (field.std() + 1e-9)


def _paint(geo, rng, conc, labels, centre, scale, label_id):
    """Draws a cell's cytoplasm (where no nucleus is) and nucleus into `conc` (H, E maps) and
    `labels`; lengths in `geo` are multiplied by `scale`. Returns the nucleus mask (window)
    and the window's slices."""
    half = int(np.ceil((geo["extent"] + geo["rim"]) * scale * 1.12)) + 2
    cy, cx = centre
    y0, x0 = max(0, int(cy) - half), max(0, int(cx) - half)
    y1, x1 = min(labels.shape[0], int(cy) + half + 1), min(labels.shape[1], int(cx) + half + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dy, dx = (yy + 0.5 - cy) / scale, (xx + 0.5 - cx) / scale
    rot = geo["rotation"]
    v, u = dy * np.cos(rot) - dx * np.sin(rot), dx * np.cos(rot) + dy * np.sin(rot)
    nucleus = np.zeros(yy.shape, bool)
    for ly, lx, a, b, r in geo["lobes"]:
        pu, pv = u - lx, v - ly
        eu, ev = pu * np.cos(r) + pv * np.sin(r), pv * np.cos(r) - pu * np.sin(r)
        nucleus |= (eu / a) ** 2 + (ev / b) ** 2 <= 1
    if geo["indent"] is not None:
        iy, ix, ia, ib = geo["indent"]
        nucleus &= ((u - ix) / ib) ** 2 + ((v - iy) / ia) ** 2 > 1
    theta = np.arctan2(v, u)
    k = np.arange(2, 5)[:, None, None]
    wobble = 1 + (geo["wobble"][:, None, None] * np.cos(k * theta + geo["phase"][:, None, None]))
    cell = np.hypot(u, v) <= (geo["extent"] + geo["rim"]) * wobble.sum(0) / 3
    sl = (slice(y0, y1), slice(x0, x1))
    free = labels[sl] == 0
    nucleus &= free
    cytoplasm = cell & ~nucleus & free & (geo["rim"] > 0.3)
    granules = 1 + geo["granules"] * _noise(rng, yy.shape, 0.8 * scale)
    for c in range(2):
        window = conc[c][sl]
        window[cytoplasm] = np.maximum(window[cytoplasm], geo["cytoplasm"][c] * granules[cytoplasm])
    texture = geo["chromatin"] * (1 + geo["texture"] * _noise(rng, yy.shape, 1.1 * scale))
    for ny, nx, nr in geo["nucleoli"]:
        texture += 0.7 * np.exp(-((u - nx) ** 2 + (v - ny) ** 2) / (2 * (nr / 1.5) ** 2))
    conc[0][sl][nucleus] = np.maximum(texture[nucleus], 0.9)
    conc[1][sl][nucleus] = 0.12
    labels[sl][nucleus] = label_id
    return nucleus, sl


def _render(rng, conc, blur):
    """Beer–Lambert RGB of (H, E) concentration maps with stain jitter, blur and noise."""
    vectors = STAIN_MATRIX[:2] * rng.normal(1.0, 0.03, (2, 3))
    gains = np.array([rng.uniform(0.9, 1.1), rng.uniform(0.85, 1.15)])
    od = np.tensordot(np.stack(conc, -1) * gains, vectors, axes=1)
    rgb = I0 * np.exp(-od)
    rgb = ndimage.gaussian_filter(rgb, sigma=(blur, blur, 0))
    rgb += rng.normal(0.0, rng.uniform(1.0, 3.0), rgb.shape)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def make_cell(rng, cell_type, size=CROP_SIZE, nuisance=None):
    """Draws one cell of `cell_type` centred on white.

    Args:
      rng: a `np.random.Generator`; the crop depends on it (and `nuisance`) alone.
      cell_type: one of `TYPES`.
      size: side of the square crop in pixels (>= 16); the cell is drawn at
        `CROP_SCALE` × size/32 of tile scale, ±10 %.
      nuisance: None (the control), or a `cell_nuisance.Nuisance` drawn from a generator
        other than `rng`: the cell off-centre, resized and restained, maybe a neighbour's
        fragment beside it (painted second, so it never covers the cell's nucleus).

    Returns:
      (uint8 RGB image of shape (size, size, 3), bool nucleus mask of shape (size, size);
      the mask is the main cell's alone).
    """
    _check_type(cell_type)
    if int(size) != size or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    size = int(size)
    geo = _geometry(rng, cell_type)
    scale = CROP_SCALE * size / CROP_SIZE * rng.uniform(0.9, 1.1)
    if nuisance is not None:  # the knob's paths run only with a nuisance
        scale *= nuisance.size
    # Too large a cell is scaled down to fit (keeping a rim), then its cytoplasm is cut back.
    keep = geo["extent"] + min(geo["rim"], 0.25 * geo["extent"])
    scale = min(scale, (size / 2 - 1) / 1.08 / keep)
    room = (size / 2 - 1) / scale / 1.08 - geo["extent"]
    geo["rim"] = float(np.clip(geo["rim"], 0, max(room, 0)))
    conc = [np.zeros((size, size)), np.zeros((size, size))]
    labels = np.zeros((size, size), np.uint16)
    centre = size / 2 + rng.uniform(-0.5, 0.5, 2)
    if nuisance is not None:
        centre += nuisance.shift
    _paint(geo, rng, conc, labels, centre, scale, 1)
    if nuisance is not None:
        if nuisance.fragment is not None:  # painted second, label 2: never over the nucleus
            frng = np.random.default_rng(nuisance.fragment_seed)
            fscale = CROP_SCALE * size / CROP_SIZE
            fgeo = _geometry(frng, nuisance.fragment)
            at = nuisance.fragment_centre(fgeo["extent"] * fscale, size)
            _paint(fgeo, frng, conc, labels, at, fscale, 2)
        conc = nuisance.stained(conc)
    image = _render(rng, conc, rng.uniform(0.3, 0.6))
    return image, labels == 1


def _proportions(rng, label):
    """Type proportions (order of TYPES) of one tile drawn from the `label` mixture."""
    base = np.asarray(_MIXTURES[label])
    others = rng.dirichlet(20 * base[1:] + 0.5)
    blasts = rng.uniform(*_BLAST_SHARE[label])
    return np.concatenate([[blasts], (1 - blasts) * others])


def _counts(rng, proportions, n):
    """Cell counts per type for `n` cells; the blast count is rounded, so its share stays
    on the side of the threshold its proportion is on (others: multinomial)."""
    blasts, least = int(np.floor(proportions[0] * n + 0.5)), int(np.ceil(ABNORMAL_SHARE * n))
    blasts = max(blasts, least) if proportions[0] >= ABNORMAL_SHARE else min(blasts, least - 1)
    rest = proportions[1:] / proportions[1:].sum()
    return np.concatenate([[blasts], rng.multinomial(n - blasts, rest)])


def make_tile(rng, size=TILE_SIZE, label=None, proportions=None):
    """Draws one H&E tile of touching and nearby cells.

    Args:
      rng: a `np.random.Generator`; the tile depends on it alone.
      size: side in pixels (>= 64); the number of cells scales with the area.
      label: "normal" or "abnormal": the mixture the proportions are drawn from; None
        draws one of the two, each with probability 1/2.
      proportions: optional type proportions (order of TYPES, summing to 1) used instead.

    Returns:
      A `Tile`. Its label follows `tile_label` on the cells actually placed; a crowded
      tile may leave out a few cells, chosen so that the label stays that of `proportions`.
    """
    if int(size) != size or size < 64:
        raise ValueError(f"size must be an integer >= 64, got {size!r}")
    size = int(size)
    if label is not None and label not in LABELS:
        raise ValueError(f"label must be one of {LABELS} or None, got {label!r}")
    if proportions is not None:
        proportions = np.asarray(proportions, np.float64)
        if (
            proportions.shape != (len(TYPES),)
            or (proportions < 0).any()
            or not np.isclose(proportions.sum(), 1)
        ):
            raise ValueError(
                f"proportions must be {len(TYPES)} shares summing to 1, got {proportions}"
            )
    if label is None:
        label = LABELS[int(rng.integers(2))]
    if proportions is None:
        proportions = _proportions(rng, label)
    n = int(round(rng.uniform(25, 40) * size * size / TILE_SIZE**2))
    counts = _counts(rng, proportions, n)
    kinds = [TYPES[t] for t in np.repeat(np.arange(len(TYPES)), counts)]
    geos = [(_geometry(rng, kind), kind) for kind in kinds]
    # The largest are placed first, except that the abnormal types go first in an abnormal
    # tile and last in a normal one: cells with no room left never flip the label.
    first = tile_label(dict(zip(TYPES, counts.tolist()))) == LABELS[1]
    geos.sort(key=lambda g: ((g[1] in ABNORMAL_TYPES) != first, -g[0]["extent"]))
    # Background: textured eosin stroma with a little haematoxylin, and fat spaces.
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    fat = np.zeros((size, size), bool)
    for _ in range(int(rng.integers(0, 4))):
        fy, fx, fr = *rng.uniform(0, size, 2), rng.uniform(10, 22)
        fat |= (yy - fy) ** 2 + (xx - fx) ** 2 <= fr**2
    fibres = _noise(rng, (size, size), 1.5) + 0.6 * _noise(rng, (size, size), 6.0)
    eosin = np.clip(0.38 + 0.12 * fibres, 0.12, 0.7) * ~fat
    conc = [0.06 * (1 + 0.3 * _noise(rng, (size, size), 3.0)) * ~fat, eosin]
    conc[0] = np.clip(conc[0], 0, 0.2)
    fat_dist = ndimage.distance_transform_edt(~fat)
    labels = np.zeros((size, size), np.uint16)
    placed, types = [], []
    for geo, kind in geos:
        reach = geo["extent"]
        for _ in range(100):
            cy, cx = rng.uniform(reach + 1, size - reach - 1, 2)
            gap = rng.uniform(1.0, 4.0)
            if fat_dist[int(cy), int(cx)] <= reach + 2:
                continue
            if all(np.hypot(cy - py, cx - px) >= reach + pr + gap for py, px, pr in placed):
                break
        else:
            continue  # no room left for this cell
        placed.append((cy, cx, reach))
        types.append(kind)
        _paint(geo, rng, conc, labels, (cy, cx), 1.0, len(types))
    image = _render(rng, conc, rng.uniform(0.4, 0.7))
    counts = {t: types.count(t) for t in TYPES}
    return Tile(image=image, instances=labels, types=tuple(types), label=tile_label(counts))


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
        raise ValueError(f"kinds must name cells and/or tiles, got {unknown}")
    if f.out is None and f.preview is None:
        raise ValueError("out or preview must be given")
    if f.out and "cells" in f.kinds:
        counts = {k: getattr(f, f"n_cells_{k}") for k in _SPLITS}
        summary = write_cells(
            pathlib.Path(f.out, "cells"), **{f"n_{k}": v for k, v in counts.items()},
            seed=f.seed, nuisance=f.nuisance,
        )  # fmt: skip
        logging.info("cell phantoms: %s", json.dumps(summary))
    if f.out and "tiles" in f.kinds:
        counts = {k: getattr(f, f"n_tiles_{k}") for k in _SPLITS}
        summary = write_tiles(
            pathlib.Path(f.out, "tiles"), **{f"n_{k}": v for k, v in counts.items()},
            seed=f.seed, size=f.tile_size,
        )  # fmt: skip
        logging.info("cell phantoms: %s", json.dumps(summary))
    if f.preview:
        write_preview(f.preview, seed=f.seed, tile_size=f.tile_size)
        logging.info("cell phantoms: preview written to %s", f.preview)


if __name__ == "__main__":
    _define_flags()  # only when run as a program: importing the module defines no flags
    app.run(main)
