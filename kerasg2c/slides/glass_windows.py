"""`tissue_only` translation: the windows of a slide that hold no tissue, copied.

A window whose box holds no tissue (`tissue.tissue_mask`) is not run through the generator;
its part is the input window itself. Windows overlap by half, so every pixel is still a
partition-of-unity blend of its windows' parts: tissue and a window's margin of glass around
it are translated, glass farther out is copied, and the change between the two happens
inside the blend, without a seam. Kernel statistics then pool tissue windows only
(`instance_statistics.PooledStatistics` gives the unrecorded windows no weight).

Examples:

    glass = glass_windows.find(slide, level, grid)
    glass_windows.copy(parts, "slide.tif", level, grid, glass)
"""

import numpy as np

from kerasg2c.slides import reader, tissue


def find(slide, level, grid) -> set:
    """The (row, col) of `grid`'s windows whose box at `level` holds no tissue."""
    mask, ds, size = tissue.tissue_mask(slide), slide.level_downsamples[level], grid.window
    glass = set()
    for row, col in grid.windows():
        y, x = grid.origin(row, col)
        if mask.fraction(x * ds, y * ds, size * ds, size * ds) == 0:
            glass.add((row, col))
    return glass


def copy(parts, path, level, grid, glass) -> None:
    """Saves each glass window's part that is missing: the input window in [-1, 1]."""
    missing = parts.missing("windows", sorted(glass))
    with reader.open_slide(path) as slide:
        for row, col in missing:
            y, x = grid.origin(row, col)
            image = slide.read_region(level, x, y, grid.window, grid.window)
            parts.save("windows", row, col, (image / 127.5 - 1.0).astype(np.float16))
