"""One interface to a whole slide, whatever its file: `open_slide(path) -> Slide`.

Levels are numbered as OpenSlide numbers them (0 = full resolution) and regions are given
in the pixel coordinates of the level they are read from. Every read returns RGB uint8;
transparency is composited onto white and whatever lies outside the image is white.

Backends: OpenSlide for the files it recognises (vendor formats, generic tiled TIFF;
the `wsi` extra), tifffile for other TIFFs (a pyramid as top-level pages of decreasing
size or as a series' levels; tiled or stripped, reading only the segments a region
touches), Pillow for PNG and JPEG (one level, decoded whole).
"""

import math
import os

import numpy as np

from kerasg2c import errors
from kerasg2c.slides.backends import (
    _openslide_format,
    _OpenSlideBackend,
    _PillowBackend,
    _TiffBackend,
)

BACKENDS = ("auto", "openslide", "tifffile")
_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_BAND_PIXELS = 1 << 22  # pixels of the level read at once by `thumbnail`


def open_slide(path, backend="auto") -> "Slide":
    """Opens `path` with `backend` ("auto", "openslide" or "tifffile").

    Raises:
      MissingPathError: `path` does not exist.
      UserError: the file is not a slide this module reads, or its decoder refuses it;
        the message names the path and the reason.
    """
    path = os.fspath(path)
    if backend not in BACKENDS:
        raise errors.UserError(f"slide {path}: backend {backend!r} is not one of {BACKENDS}")
    if not os.path.isfile(path):
        raise errors.MissingPathError(f"slide {path}: no such file")
    with open(path, "rb") as f:
        magic = f.read(8)
    if backend in ("auto", "openslide") and _openslide_format(path, required=backend != "auto"):
        return Slide(path, _OpenSlideBackend(path))
    if backend == "openslide":
        raise errors.UserError(f"slide {path}: OpenSlide does not recognise this file")
    if magic.startswith(_TIFF_MAGIC):
        return Slide(path, _TiffBackend(path))
    if backend == "auto" and magic.startswith((_PNG_MAGIC, _JPEG_MAGIC)):
        return Slide(path, _PillowBackend(path))
    kind = "a TIFF" if backend == "tifffile" else "a TIFF/OpenSlide/PNG/JPEG"
    raise errors.UserError(f"slide {path}: not {kind} file")


class Slide:
    """An open slide; `close()` it or use it as a context manager."""

    def __init__(self, path, backend):
        self.path = path
        self._backend = backend
        self.level_dimensions = [tuple(map(int, d)) for d in backend.level_dimensions]
        self.level_count = len(self.level_dimensions)
        self.level_downsamples = [float(d) for d in backend.level_downsamples]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Slide({self.path!r}, {type(self._backend).__name__}, {self.level_dimensions})"

    def close(self):
        self._backend.close()

    def read_region(self, level, x, y, width, height) -> np.ndarray:
        """RGB uint8 [height, width, 3] at (x, y) in level `level`'s own pixel coordinates;
        white where the region leaves the image."""
        if not 0 <= level < self.level_count:
            raise ValueError(f"level {level} not in [0, {self.level_count})")
        if width <= 0 or height <= 0:
            raise ValueError(f"region size {width}x{height} must be positive")
        out = np.full((height, width, 3), 255, np.uint8)
        level_width, level_height = self.level_dimensions[level]
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + width, level_width), min(y + height, level_height)
        if x0 < x1 and y0 < y1:
            region = self._backend.read(level, x0, y0, x1 - x0, y1 - y0)
            out[y0 - y : y1 - y, x0 - x : x1 - x] = region
        return out

    def thumbnail(self, max_size) -> np.ndarray:
        """The whole slide, RGB uint8, longest side <= `max_size`: the smallest level at
        least that big, averaged over integer blocks, read band by band."""
        level = self.level_count - 1
        while level > 0 and max(self.level_dimensions[level]) < max_size:
            level -= 1
        width, height = self.level_dimensions[level]
        factor = max(1, math.ceil(max(width, height) / max_size))
        out_width, out_height = -(-width // factor), -(-height // factor)
        out = np.empty((out_height, out_width, 3), np.uint8)
        band_rows = max(1, _BAND_PIXELS // (width * factor * factor))  # output rows per band
        for row in range(0, out_height, band_rows):
            rows = min(band_rows, out_height - row)
            y = row * factor
            band = self.read_region(level, 0, y, width, min(rows * factor, height - y))
            out[row : row + rows] = block_mean(band, factor)
        return out


def block_mean(image, factor) -> np.ndarray:
    """uint8 means over factor x factor blocks of an RGB `image`; partial edge blocks
    average the pixels they hold."""
    height, width = image.shape[:2]
    rows, cols = -(-height // factor), -(-width // factor)
    padded = np.zeros((rows * factor, cols * factor, 3), np.float64)
    padded[:height, :width] = image
    count = np.zeros((rows * factor, cols * factor), np.float64)
    count[:height, :width] = 1
    sums = padded.reshape(rows, factor, cols, factor, 3).sum(axis=(1, 3))
    counts = count.reshape(rows, factor, cols, factor).sum(axis=(1, 3))
    return np.round(sums / counts[..., None]).astype(np.uint8)
