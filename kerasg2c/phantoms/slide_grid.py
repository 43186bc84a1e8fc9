"""What the phantom slide writers (`ki67_slides`, `cell_slides`, `mil_slides`) share.

Each slide is a grid of `CELL`-pixel cells rendered one by one: `check_size` refuses a
size the grid cannot tile, `glass` renders an empty cell, and `centroids` gives the level-0
centroid and area of each labelled nucleus of a cell, in QuPath's pixel-centre convention
(pixel (r, c) centred at (c + 0.5, r + 0.5)).

Examples:

    slide_grid.check_size(1024, 1536)
    image = slide_grid.glass(np.random.default_rng([seed, row, col]))
"""

import numpy as np
from scipy import ndimage

from kerasg2c.phantoms import cell_shapes

CELL = 256


def check_size(height, width, cell=CELL) -> None:
    """Raises ValueError unless both sides are multiples of `cell`."""
    if height % cell or width % cell:
        raise ValueError(f"height and width must be multiples of {cell}, got {height}x{width}")


def glass(rng, size=CELL) -> np.ndarray:
    """uint8 [size, size, 3]: bare glass, the renderers' white with their noise."""
    noisy = np.rint(cell_shapes.I0 + rng.normal(0, 2.0, (size, size, 3)))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def centroids(instances, count, row, col, cell=CELL) -> list[tuple[float, float, int]]:
    """(x, y, area) in level-0 pixels of labels 1..`count` of grid cell (row, col)'s
    `instances` (cells of side `cell`; area 0: a label the cell does not hold)."""
    index = np.arange(1, count + 1)
    ones = np.ones_like(instances)
    centres = ndimage.center_of_mass(ones, instances, index)
    areas = ndimage.sum(ones, instances, index)
    return [
        (col * cell + cx + 0.5, row * cell + cy + 0.5, int(area))
        for (cy, cx), area in zip(centres, areas)
    ]
