"""The file backends behind `reader.Slide`: OpenSlide, tifffile and Pillow.

Each backend exposes `level_dimensions` ((width, height) per level), `level_downsamples`
(OpenSlide's convention: the mean of a level's two side ratios to level 0),
`read(level, x, y, width, height)` of a region inside the level (in its own pixel
coordinates; `reader.Slide` clips regions and whitens the rest), RGB uint8 with
transparency composited onto white, and `close()`. OpenSlide reads the files it recognises
(the `wsi` extra); tifffile reads other TIFFs (a pyramid as top-level pages of decreasing
size or as a series' levels; tiled or stripped, decoding only the segments a region
touches); Pillow reads PNG and JPEG (one level, decoded whole).
"""

import zlib

import numpy as np

from kerasg2c import errors


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
