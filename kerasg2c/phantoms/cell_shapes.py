"""Single bone-marrow-like cells: the five types' shapes, chromatin and stain (`make_cell`).

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
neighbour fragments, stain and size), level 0 being these crops exactly. `_geometry`,
`_paint` and `_render` also draw the cells of the tiles (`cell_tiles`) and of the IHC
phantoms (`ihc`).
"""

import dataclasses

import numpy as np
from scipy import ndimage

TYPES = ("myeloblast", "lymphocyte", "neutrophil", "monocyte", "megakaryocyte")
# Ruifrok & Johnston optical densities of a unit layer (rows: haematoxylin, eosin, DAB).
STAIN_MATRIX = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
CROP_SIZE = 32
CROP_SCALE = 0.6  # single cells are drawn at this fraction of tile scale
I0 = 255.0


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
