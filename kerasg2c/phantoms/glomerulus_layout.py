"""Glomerulus-like layouts: the stain-independent maps of one patch (`make_layout`).

A layout holds concentration maps of what a stain sees (nuclear chromatin, cytoplasm,
mesangial matrix, basement membrane) and the lumina; `glomeruli.render` turns one into an
image in any stain.

Classes follow glomerular morphology: `noa` (normal: open capillary loops, thin mesangium,
many nuclei), `ss` (segmental sclerosis: matrix fills one sector of the tuft, where loops
collapse and nuclei are sparse), `gs` (global sclerosis: the whole retracted tuft is
matrix with few nuclei; thick capsule, periglomerular fibrosis).

`difficulty` in [0, 1] makes the classes overlap (0 gives the original, easy layouts byte
for byte). As it rises the ss sclerotic sector narrows to a small, fainter segment; gs
sclerosis becomes partial and patchy (open loops and nuclei survive), its tuft retracts less
and its thick capsule, wide Bowman's space and fibrotic halo fade; noa gets mesangial matrix
expansion (stain-side effects of `difficulty` are `glomeruli.render`'s).
"""

import dataclasses

import numpy as np
from scipy import ndimage
from skimage import draw

CLASSES = ("noa", "ss", "gs")


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
