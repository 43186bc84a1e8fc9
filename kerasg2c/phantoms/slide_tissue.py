"""Kidney-cortex-like tissue of the phantom slides: the stain-independent concentrations.

Inside the island map (`slides.SlidePlan.islands`, 1/16 of the slide, `MASK_DOWNSAMPLE`):
tubules on a jittered grid (epithelium around a lumen, a basement-membrane ring, nuclei
along the epithelium) in an interstitium with scattered nuclei, and now and then a
glomerulus from `glomerulus_layout.make_layout` (noa, ss or gs) pasted into a disk. Every
region (`concentrations`) is a pure function of (seed, its coordinates) and the island map,
so `slides` renders the slide tile by tile in bounded memory and the four stains share
their geometry exactly.
"""

import numpy as np
from skimage import draw

from kerasg2c.phantoms import glomeruli, glomerulus_layout

MASK_DOWNSAMPLE = 16
_MARGIN = 8  # pixels rendered around a region so the blur has no seams
_TUBULE_SPACING = 64
_GLOMERULUS_CELL = 512  # at most one glomerulus per cell, wholly inside it
_GLOMERULUS_CHANCE = 0.5
_LATTICE_CHUNK = 64  # lattice values drawn per chunk of lattice points
# Random streams: (seed, stream, ...).
_ISLANDS, _STAIN, _TUBULE, _GLOMERULUS, _TEXTURE, _NOISE = range(6)


def concentrations(plan, y, x, height, width) -> np.ndarray:
    """float32 [height, width, 4]: chromatin, cytoplasm, matrix, membrane (phantoms'
    components) of the region at level-0 pixel (y, x); zero on glass and off the slide."""
    rows = np.arange(y, y + height)
    cols = np.arange(x, x + width)
    tissue = _tissue(plan, rows, cols)
    if not tissue.any():
        return np.zeros((height, width, len(glomeruli._COMPONENTS)), np.float32)
    rho, lumen_fraction, nuclei = _tubules(plan.seed, y, x, height, width)
    fill = 1 + 0.2 * _lattice_noise(plan.seed, _TEXTURE, rows, cols, 3)
    lumen = rho < lumen_fraction
    epithelium = ~lumen & (rho < 1)
    membrane = (rho >= 1) & (rho < 1.12)
    chromatin = nuclei * ~lumen
    cytoplasm = 0.5 * epithelium * fill * (chromatin == 0)
    matrix = (0.22 * (rho >= 1.12) + 0.1 * epithelium) * fill
    conc = np.stack([chromatin, cytoplasm, matrix, 0.7 * membrane], axis=-1).astype(np.float32)
    for glomerulus, top, left in _glomeruli(plan, y, x, height, width):
        _paste(conc, glomerulus, top - y, left - x)
    return conc * tissue[..., None]


def _tissue(plan, rows, cols):
    """Level-0 tissue mask: the island map interpolated bilinearly, > 0.5, zero off the slide."""
    grid_rows = np.clip(rows / MASK_DOWNSAMPLE, 0, plan.islands.shape[0] - 1)
    grid_cols = np.clip(cols / MASK_DOWNSAMPLE, 0, plan.islands.shape[1] - 1)
    values = _bilinear(plan.islands, grid_rows, grid_cols)
    inside = ((rows >= 0) & (rows < plan.height))[:, None] & ((cols >= 0) & (cols < plan.width))
    return (values > 0.5) & inside


def _bilinear(grid, rows, cols):
    """`grid` at fractional (rows x cols) positions inside it."""
    r0 = np.minimum(np.floor(rows).astype(int), grid.shape[0] - 2).clip(0)
    c0 = np.minimum(np.floor(cols).astype(int), grid.shape[1] - 2).clip(0)
    tr, tc = (rows - r0)[:, None], (cols - c0)[None, :]
    r1, c1 = np.minimum(r0 + 1, grid.shape[0] - 1), np.minimum(c0 + 1, grid.shape[1] - 1)
    top = grid[np.ix_(r0, c0)] * (1 - tc) + grid[np.ix_(r0, c1)] * tc
    bottom = grid[np.ix_(r1, c0)] * (1 - tc) + grid[np.ix_(r1, c1)] * tc
    return (top * (1 - tr) + bottom * tr).astype(np.float32)


def _lattice_noise(seed, stream, rows, cols, spacing):
    """Smooth noise at pixels rows x cols: bilinear between unit normals on a lattice every
    `spacing` pixels, each chunk of lattice values drawn from (seed, stream, chunk)."""
    lr0, lr1 = rows[0] // spacing, rows[-1] // spacing + 1
    lc0, lc1 = cols[0] // spacing, cols[-1] // spacing + 1
    lattice = np.empty((lr1 - lr0 + 1, lc1 - lc0 + 1), np.float32)
    n = _LATTICE_CHUNK
    for cr in range(lr0 // n, lr1 // n + 1):
        for cc in range(lc0 // n, lc1 // n + 1):
            values = glomeruli._rng(seed, stream, cr + 1, cc + 1).standard_normal((n, n))
            r0, r1 = max(lr0, cr * n), min(lr1 + 1, (cr + 1) * n)
            c0, c1 = max(lc0, cc * n), min(lc1 + 1, (cc + 1) * n)
            lattice[r0 - lr0 : r1 - lr0, c0 - lc0 : c1 - lc0] = values[
                r0 - cr * n : r1 - cr * n, c0 - cc * n : c1 - cc * n
            ]
    return _bilinear(lattice, rows / spacing - lr0, cols / spacing - lc0)


def _tubules(seed, y, x, height, width):
    """Tubules of the region: per pixel the normalised radius `rho` in the nearest tubule
    (lumen below its lumen fraction, epithelium below 1, basement membrane just above),
    that tubule's lumen fraction, and the nuclei's chromatin."""
    g = _TUBULE_SPACING
    rho = np.full((height, width), np.inf, np.float32)
    lumen_fraction = np.zeros((height, width), np.float32)
    nuclei = np.zeros((height, width), np.float32)
    reach = g  # no tubule or nucleus reaches farther than this from its cell
    for ci in range((y - reach) // g, (y + height + reach) // g + 1):
        for cj in range((x - reach) // g, (x + width + reach) // g + 1):
            rng = glomeruli._rng(seed, _TUBULE, ci + 2, cj + 2)  # cells from -2
            cy, cx = (np.array([ci, cj]) + 0.5) * g + rng.uniform(-0.15, 0.15, 2) * g - (y, x)
            a = rng.uniform(0.36, 0.48) * g
            b = a * rng.uniform(0.65, 1.0)
            angle, fraction = rng.uniform(0, np.pi), rng.uniform(0.3, 0.5)
            top, left = int(max(cy - a * 1.2, 0)), int(max(cx - a * 1.2, 0))
            bottom, right = int(min(cy + a * 1.2 + 1, height)), int(min(cx + a * 1.2 + 1, width))
            if top < bottom and left < right:
                yy, xx = np.mgrid[top:bottom, left:right].astype(np.float32)
                u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
                v = (yy - cy) * np.cos(angle) - (xx - cx) * np.sin(angle)
                local = np.hypot(u / a, v / b)
                window = rho[top:bottom, left:right]
                closer = local < window
                window[closer] = local[closer]
                lumen_fraction[top:bottom, left:right][closer] = fraction
            phase = rng.uniform(0, 2 * np.pi, rng.integers(5, 10))
            ring = (fraction + 1) / 2
            rows = cy + ring * (
                a * np.cos(phase) * np.sin(angle) + b * np.sin(phase) * np.cos(angle)
            )
            cols = cx + ring * (
                a * np.cos(phase) * np.cos(angle) - b * np.sin(phase) * np.sin(angle)
            )
            corner = np.array([cy, cx]) + g / 2 + rng.uniform(-4, 4, 2)  # interstitial nucleus
            if rng.uniform() < 0.6:
                rows, cols = np.append(rows, corner[0]), np.append(cols, corner[1])
            shapes = rng.uniform((3.0, 3.0, 0.0, 0.85), (4.5, 4.5, np.pi, 1.0), (len(rows), 4))
            for r, c, (radius_r, radius_c, rotation, value) in zip(rows, cols, shapes):
                if -6 < r < height + 6 and -6 < c < width + 6:
                    rr, cc = draw.ellipse(r, c, radius_r, radius_c, (height, width), rotation)
                    nuclei[rr, cc] = np.maximum(nuclei[rr, cc], value)
    return rho, lumen_fraction, nuclei


def _glomeruli(plan, y, x, height, width):
    """(concentrations [G, G, 4] with a disk weight in channel 4, top, left) of each
    glomerulus reaching into the region, in level-0 coordinates."""
    c = _GLOMERULUS_CELL
    found = []
    for gi in range(max(y, 0) // c, (y + height - 1) // c + 1):
        for gj in range(max(x, 0) // c, (x + width - 1) // c + 1):
            rng = glomeruli._rng(plan.seed, _GLOMERULUS, gi, gj)
            size = int(rng.choice((224, 256, 288)))
            top, left = np.array([gi, gj]) * c + rng.integers(_MARGIN, c - size - _MARGIN, 2)
            label = glomerulus_layout.CLASSES[
                rng.choice(len(glomerulus_layout.CLASSES), p=glomeruli.CLASS_FREQUENCIES)
            ]
            if rng.uniform() >= _GLOMERULUS_CHANCE or not _all_tissue(plan, top, left, size):
                continue
            if top >= y + height or left >= x + width or top + size <= y or left + size <= x:
                continue
            layout = glomerulus_layout.make_layout(rng, size, label)
            maps = [getattr(layout, name) for name in glomeruli._COMPONENTS]
            yy, xx = np.mgrid[0:size, 0:size] + 0.5 - size / 2
            weight = np.clip((0.5 * size - np.hypot(yy, xx)) / 6, 0, 1)
            found.append((np.stack([*maps, weight], axis=-1).astype(np.float32), top, left))
    return found


def _all_tissue(plan, top, left, size):
    """Whether the island map holds tissue over the whole square."""
    d = MASK_DOWNSAMPLE
    block = plan.islands[
        top // d : -(-(top + size) // d) + 1, left // d : -(-(left + size) // d) + 1
    ]
    return bool(block.size) and bool((block > 0.5).all())


def _paste(conc, glomerulus, top, left):
    """Blends the glomerulus (weight in its last channel) into `conc` at (top, left)."""
    height, width = conc.shape[:2]
    size = glomerulus.shape[0]
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + size, height), min(left + size, width)
    if r0 >= r1 or c0 >= c1:
        return
    part = glomerulus[r0 - top : r1 - top, c0 - left : c1 - left]
    weight = part[..., -1:]
    conc[r0:r1, c0:c1] = weight * part[..., :-1] + (1 - weight) * conc[r0:r1, c0:c1]
