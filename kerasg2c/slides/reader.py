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
import zlib

import numpy as np

from kerasg2c import errors

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


def _downsamples(dimensions):
    """OpenSlide's downsample of each level: the mean of its two side ratios to level 0."""
    width0, height0 = dimensions[0]
    return [(width0 / w + height0 / h) / 2 for w, h in dimensions]


def _to_rgb(array):
    """[h, w] or [h, w, c] of any integer or float dtype -> RGB uint8, alpha over white."""
    if array.dtype == np.uint8:
        pass
    elif np.issubdtype(array.dtype, np.integer):
        array = (array.astype(np.float64) * 255.0 / np.iinfo(array.dtype).max).round()
    else:
        array = np.clip(array, 0.0, 1.0) * 255.0
    array = np.asarray(array).astype(np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    channels = array.shape[-1]
    colour = array[..., :3] if channels >= 3 else np.repeat(array[..., :1], 3, axis=-1)
    if channels in (2, 4):
        alpha = array[..., -1:].astype(np.uint32)
        colour = (colour * alpha + 255 * (255 - alpha) + 127) // 255
    return np.ascontiguousarray(colour, dtype=np.uint8)


def _openslide_format(path, required):
    """OpenSlide's name for the file's format, or None (also when OpenSlide is not
    installed, unless `required`)."""
    try:
        import openslide
    except ImportError as e:
        if required:
            raise errors.UserError(f"slide {path}: backend 'openslide' unavailable ({e})") from e
        return None
    try:
        return openslide.OpenSlide.detect_format(path)
    except openslide.OpenSlideError:
        return None


class _OpenSlideBackend:
    def __init__(self, path):
        import openslide

        try:
            self._slide = openslide.OpenSlide(path)
        except openslide.OpenSlideError as e:
            raise errors.UserError(f"slide {path}: OpenSlide cannot open it: {e}") from e
        self._path = path
        self._error = openslide.OpenSlideError
        self.level_dimensions = self._slide.level_dimensions
        self.level_downsamples = self._slide.level_downsamples

    def read(self, level, x, y, width, height):
        """OpenSlide takes level-0 coordinates: exact where the downsample is an integer."""
        downsample = self.level_downsamples[level]
        location = (round(x * downsample), round(y * downsample))
        try:
            image = self._slide.read_region(location, level, (width, height))
        except self._error as e:
            raise errors.UserError(
                f"slide {self._path}: OpenSlide cannot read level {level}: {e}"
            ) from e
        return _to_rgb(np.asarray(image))

    def close(self):
        self._slide.close()


class _TiffBackend:
    def __init__(self, path):
        import tifffile

        try:
            self._tif = tifffile.TiffFile(path)
            self._pages = _pyramid_pages(self._tif)
        except Exception as e:
            raise errors.UserError(f"slide {path}: not a readable TIFF: {e}") from e
        self._path = path
        self.level_dimensions = [(p.imagewidth, p.imagelength) for p in self._pages]
        self.level_downsamples = _downsamples(self.level_dimensions)

    def read(self, level, x, y, width, height):
        try:
            return self._read(level, x, y, width, height)
        except (ValueError, OSError, zlib.error) as e:  # tifffile's errors are ValueErrors
            raise errors.UserError(f"slide {self._path}: cannot read level {level}: {e}") from e

    def _read(self, level, x, y, width, height):
        """Decodes only the tiles or strips the region touches."""
        page = self._pages[level]
        if page.planarconfig == 2:  # separate planes: segments per sample
            samples = page.samplesperpixel
        else:
            samples = 1
        tile_height = page.tilelength if page.is_tiled else page.rowsperstrip
        tile_width = page.tilewidth if page.is_tiled else page.imagewidth
        tile_height = min(tile_height, page.imagelength)
        rows = -(-page.imagelength // tile_height)
        cols = -(-page.imagewidth // tile_width)
        out = np.empty((height, width, page.samplesperpixel), page.dtype)
        handle = self._tif.filehandle
        for sample in range(samples):
            for row in range(y // tile_height, (y + height - 1) // tile_height + 1):
                for col in range(x // tile_width, (x + width - 1) // tile_width + 1):
                    index = sample * rows * cols + row * cols + col
                    handle.seek(page.dataoffsets[index])
                    data = handle.read(page.databytecounts[index])
                    if len(data) < page.databytecounts[index]:
                        raise OSError(f"truncated: segment {index} ends past the end of file")
                    segment, _, _ = page.decode(data or None, index)
                    segment = _segment_pixels(page, segment, tile_height, tile_width, row)
                    top, left = row * tile_height, col * tile_width
                    ys = slice(max(y, top), min(y + height, top + segment.shape[0]))
                    xs = slice(max(x, left), min(x + width, left + segment.shape[1]))
                    part = segment[ys.start - top : ys.stop - top, xs.start - left : xs.stop - left]
                    target = out[ys.start - y : ys.stop - y, xs.start - x : xs.stop - x]
                    if samples > 1:
                        target[..., sample] = part[..., 0]
                    else:
                        target[...] = part
        return _to_rgb(out)

    def close(self):
        self._tif.close()


def _segment_pixels(page, segment, tile_height, tile_width, row):
    """A decoded segment as [rows, cols, samples] (white for an empty segment)."""
    channels = 1 if page.planarconfig == 2 else page.samplesperpixel
    if segment is None:
        rows = min(tile_height, page.imagelength - row * tile_height)
        white = np.iinfo(page.dtype).max if np.issubdtype(page.dtype, np.integer) else 1.0
        return np.full((rows, tile_width, channels), white, page.dtype)
    return segment.reshape(segment.shape[-3], segment.shape[-2], channels)


def _pyramid_pages(tif):
    """The levels of a TIFF, largest first: page 0 and those of the first series' levels
    (SVS, OME SubIFDs) and of the other top-level pages that have its aspect, samples and
    tiling (so the stripped thumbnail of a tiled slide is no level)."""
    first = tif.pages[0]
    levels = {first.imagewidth: first}
    candidates = [level.keyframe for level in tif.series[0].levels] + list(tif.pages[1:])
    for page in candidates:
        if page.samplesperpixel != first.samplesperpixel or page.is_tiled != first.is_tiled:
            continue
        expected_height = first.imagelength * page.imagewidth / first.imagewidth
        if page.imagewidth < first.imagewidth and abs(expected_height - page.imagelength) <= max(
            2.0, 0.02 * page.imagelength
        ):
            levels.setdefault(page.imagewidth, page)
    return [levels[width] for width in sorted(levels, reverse=True)]


class _PillowBackend:
    def __init__(self, path):
        from PIL import Image

        try:
            with Image.open(path) as image:
                if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                    image = image.convert("RGBA")
                elif not image.mode.startswith("I"):
                    image = image.convert("RGB")
                self._image = _to_rgb(np.asarray(image))
        except Exception as e:
            raise errors.UserError(f"slide {path}: not a readable image: {e}") from e
        self.level_dimensions = [(self._image.shape[1], self._image.shape[0])]
        self.level_downsamples = [1.0]

    def read(self, level, x, y, width, height):
        return self._image[y : y + height, x : x + width]

    def close(self):
        self._image = None
