"""The tile walk every object-finding slide analysis shares (nuclei, Ki-67).

The slide's tissue is visited tile by tile at one level; each tile is read with a margin
of context on every side, objects are found on the whole read, and an object belongs to
the tile its centroid falls in, so an object across a tile border is found whole and
counted once. Tissue regions are the connected pieces of the tissue mask.

Examples:

    mask = tissue.tissue_mask(slide)
    for x, y in analysis_tiles.tissue_tiles(slide, mask, level=1, tile_size=512):
        window = analysis_tiles.read_window(slide, 1, x, y, 512, margin=16)
        ...  # find objects on window.rgb; keep those for which window.owns(row, col)
"""

import dataclasses
import os
import time

import numpy as np
from absl import logging
from scipy import ndimage

from kerasg2c.errors import UserError
from kerasg2c.slides import geojson
from kerasg2c.slides.tissue import tissue_mask


@dataclasses.dataclass(frozen=True)
class Window:
    """One tile read with its margin at `level`; `rgb[0, 0]` is level pixel (x, y)."""

    rgb: np.ndarray
    x: int
    y: int
    margin: int
    tile_size: int
    level_size: tuple  # (width, height) of the level
    downsample: float

    def owns(self, row, col) -> bool:
        """Whether the window pixel (row, col) (a centroid) lies in the tile itself."""
        m, t = self.margin, self.tile_size
        width, height = self.level_size
        inside_tile = m <= row < m + t and m <= col < m + t
        return inside_tile and 0 <= self.y + row < height and 0 <= self.x + col < width

    def to_level0(self, row, col) -> tuple[float, float]:
        """(x, y) in level-0 pixels of window pixel (row, col), pixel centres at + 0.5."""
        return (self.x + col + 0.5) * self.downsample, (self.y + row + 0.5) * self.downsample


def tissue(slide, path, level):
    """(mask, regions, count) of an open slide after checking `level`: its
    `tissue.tissue_mask`, the mask's connected pieces labelled 1..count.

    Raises:
      UserError: the level does not exist, or the mask is empty.
    """
    if not 0 <= level < slide.level_count:
        raise UserError(f"--level {level}: {path} has levels 0..{slide.level_count - 1}")
    mask = tissue_mask(slide)
    regions, count = ndimage.label(mask.mask)
    if count == 0:
        raise UserError(f"{path}: no tissue found (tissue mask is empty)")
    return mask, regions, count


def tissue_tiles(slide, mask, level, tile_size) -> list[tuple[int, int]]:
    """(x, y) at `level` of every tile holding any tissue of `mask`, row by row."""
    width, height = slide.level_dimensions[level]
    ds = slide.level_downsamples[level]
    return [
        (x, y)
        for y in range(0, height, tile_size)
        for x in range(0, width, tile_size)
        if mask.fraction(x * ds, y * ds, tile_size * ds, tile_size * ds) > 0
    ]


def read_window(slide, level, x, y, tile_size, margin) -> Window:
    """The tile at level pixel (x, y) with `margin` level pixels around it."""
    size = tile_size + 2 * margin
    rgb = slide.read_region(level, x - margin, y - margin, size, size)
    return Window(
        rgb=rgb,
        x=x - margin,
        y=y - margin,
        margin=margin,
        tile_size=tile_size,
        level_size=slide.level_dimensions[level],
        downsample=slide.level_downsamples[level],
    )


def region_at(regions, scale, x, y) -> int:
    """The tissue region label under level-0 point (x, y) (0: outside the mask), for
    `regions` labelled on a tissue mask of `scale` (mask pixels per level-0 pixel)."""
    row, col = int(y * scale[0]), int(x * scale[1])
    if 0 <= row < regions.shape[0] and 0 <= col < regions.shape[1]:
        return int(regions[row, col])
    return 0


def region_polygon(regions, region, scale) -> dict:
    """The outline of tissue region `region` of `regions` as a level-0 GeoJSON Polygon."""
    return geojson.polygon(geojson.ring(regions == region, downsample=1 / scale[1]))


class Progress:
    """Logs `<what> <slide>: i/n tiles, <count> <unit>` every `every` seconds and at the end."""

    def __init__(self, what, path, total, unit, every=10.0):
        self.what, self.name, self.total, self.unit, self.every = (
            what, os.path.basename(os.fspath(path)), total, unit, every,
        )  # fmt: skip
        self.last = time.perf_counter()

    def __call__(self, done, count):
        if time.perf_counter() - self.last > self.every or done == self.total:
            self.last = time.perf_counter()
            logging.info("%s %s: %d/%d tiles, %d %s", self.what, self.name, done, self.total,
                         count, self.unit)  # fmt: skip
