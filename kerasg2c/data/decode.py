"""Image decoding for the input pipeline, and the scan that finds undecodable files.

`decode_image` is the one decoder of the project: PNG (8 and 16 bit), JPEG, BMP and GIF go
through `tf.io.decode_image`; TIFF (recognised by its magic bytes, not its name) goes
through tifffile in a `tf.numpy_function`. Every image comes out float32 H×W×3 in [0, 1]:
grey is repeated to RGB and alpha is dropped. TIFFs compressed other than with zlib (LZW,
JPEG, PackBits, ...) need the optional `imagecodecs` package; without it tifffile refuses
them and the scan reports them unreadable with tifffile's message saying so.

`scan_images` decodes every file with that same function, so what the scan accepts the
pipeline accepts. What it catches (checked with TF 2.21): random bytes, text, empty files,
PNGs and JPEGs cut short (`tf.io` refuses truncated PNG and JPEG data outright: "Invalid
PNG data", "jpeg::Uncompress failed"), PNGs with a damaged chunk (CRC check). Not caught,
as no decoder can tell: a JPEG whose entropy-coded bytes are altered in place still
decodes (libjpeg only warns "Corrupt JPEG data").

Before decoding, the scan reads each file's width and height from its header
(`header_size`) and refuses, undecoded, a file larger than `max_pixels` (config key
`data.max_pixels`): a decompression bomb, a few KB on disk, is never decoded.
"""

import dataclasses
import io
import json
import os
import re

import numpy as np
import tensorflow as tf
import tifffile
from absl import logging
from PIL import Image

from kerasg2c import errors

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
_TIFF_PHOTOMETRIC = (
    tifffile.PHOTOMETRIC.MINISBLACK,
    tifffile.PHOTOMETRIC.RGB,
    tifffile.PHOTOMETRIC.YCBCR,
)
_CACHE_VERSION = 2  # entry of a verified file: [bytes, mtime_ns, [width, height] or null]


def decode_image(path: tf.Tensor) -> tf.Tensor:
    """Reads and decodes one image file (graph-mode safe).

    Args:
      path: scalar string tensor.

    Returns:
      float32 [H, W, 3] in [0, 1].
    """
    return decode_image_bytes(tf.io.read_file(path))


def decode_views(paths: tf.Tensor) -> tf.Tensor:
    """Decodes K image files of one patch (string tensor [K]) into float32 [H, W, 3K] in
    [0, 1]: the first file's size, the others resized to it."""
    first = decode_image(paths[0])
    size = tf.shape(first)[:2]
    views = [
        tf.image.resize(decode_image(paths[k]), size, antialias=True)
        for k in range(1, paths.shape[0])
    ]
    stacked = tf.concat([first, *views], axis=-1)
    stacked.set_shape([None, None, 3 * paths.shape[0]])
    return stacked


def decode_image_bytes(data: tf.Tensor) -> tf.Tensor:
    """Decodes an encoded image (scalar string tensor) to float32 [H, W, 3] in [0, 1]."""
    is_tiff = tf.reduce_any(tf.equal(tf.strings.substr(data, 0, 4), _TIFF_MAGIC))
    image = tf.cond(is_tiff, lambda: _decode_tiff(data), lambda: _decode_with_tf(data))
    image.set_shape([None, None, 3])
    return image


def _decode_with_tf(data):
    # dtype=float32 decodes 16-bit PNGs at 16 bits and scales by the type's maximum.
    return tf.io.decode_image(data, channels=3, dtype=tf.float32, expand_animations=False)


def _decode_tiff(data):
    return tf.numpy_function(_tiff_to_rgb, [data], tf.float32, stateful=False)


def _tiff_to_rgb(data) -> np.ndarray:
    """First page of a TIFF (bytes, as a 0-d array) as float32 RGB in [0, 1] (integers
    scaled by their maximum)."""
    with tifffile.TiffFile(io.BytesIO(np.asarray(data).item())) as tif:
        page = tif.pages[0]
        if page.photometric not in _TIFF_PHOTOMETRIC:
            raise ValueError(f"unsupported TIFF photometric {page.photometric.name}")
        array = page.asarray()
        if page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and array.ndim == 3:
            array = np.moveaxis(array, 0, -1)
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / np.iinfo(array.dtype).max
    array = np.clip(array.astype(np.float32), 0.0, 1.0)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] > 4:
        raise ValueError(f"unsupported TIFF image shape {array.shape}")
    # 1 channel: grey; 2: grey + alpha; 3: RGB; 4: RGBA.
    return np.ascontiguousarray(
        array[..., :3] if array.shape[-1] >= 3 else np.repeat(array[..., :1], 3, -1)
    )


@dataclasses.dataclass(frozen=True)
class ScanResult:
    """Outcome of `scan_images`: decodable paths (input order) and (path, reason) of the rest
    (sorted by path)."""

    good: tuple[str, ...]
    bad: tuple[tuple[str, str], ...]


def scan_images(paths, *, strict=False, cache_path=None, max_pixels=None) -> ScanResult:
    """Decodes every file with `decode_image` to find those the pipeline could not read.

    Args:
      paths: image paths.
      strict: raise on the first unreadable or too large file (in sorted order) instead of
        skipping.
      cache_path: optional JSON file remembering verified files by (path, size, mtime), so
        a later scan re-decodes only new or changed files.
      max_pixels: files whose header gives width × height above this are not decoded but
        reported with the unreadable ones (None: no limit). A file whose header cannot be
        read is left to the decoder.

    Returns:
      ScanResult. Unreadable and too large files are also logged (count and names) as a
      warning.

    Raises:
      UserError: `strict` and some file is unreadable or too large; names the first one
        and why.
    """
    paths = [os.fspath(p) for p in paths]
    verified = _read_cache(cache_path)
    stamps = {p: _stamp(p) for p in paths}
    sizes, todo = {}, []
    for p in paths:
        entry = verified.get(os.path.abspath(p))
        if stamps[p] is not None and entry is not None and entry[:2] == stamps[p]:
            sizes[p] = entry[2]
        else:
            sizes[p] = header_size(p)
            todo.append(p)
    too_large = {p: reason for p in paths if (reason := _too_large(sizes[p], max_pixels))}
    to_decode = [p for p in todo if p not in too_large]
    decoded = _decodable(to_decode)
    unreadable = [(p, _failure_reason(p)) for p in to_decode if p not in decoded]
    bad = tuple(sorted([*unreadable, *too_large.items()]))
    if cache_path:
        verified.update({os.path.abspath(p): [*stamps[p], sizes[p]] for p in decoded})
        for p, _ in bad:
            verified.pop(os.path.abspath(p), None)
        _write_cache(cache_path, verified)
    if bad and strict:
        raise errors.UserError(
            f"unreadable image {bad[0][0]}: {bad[0][1]} ({len(bad)} unreadable in all)"
        )
    if bad:
        logging.warning(
            "skipping %d unreadable or too large image(s): %s",
            len(bad),
            [f"{p} ({r})" for p, r in bad],
        )
    bad_paths = {p for p, _ in bad}
    return ScanResult(good=tuple(p for p in paths if p not in bad_paths), bad=bad)


def header_size(path) -> tuple[int, int] | None:
    """(width, height) of an image file from its header, without decoding pixels (a TIFF's
    first page, as `decode_image` reads it); None when the header cannot be read."""
    try:
        with open(path, "rb") as f:
            is_tiff = f.read(4) in _TIFF_MAGIC
        if is_tiff:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                return int(page.imagewidth), int(page.imagelength)
        # Image.open refuses (above 2 × MAX_IMAGE_PIXELS) or warns about large images; here
        # only the header is read, and the caller applies its own limit.
        limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with Image.open(path) as image:
                return image.size
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    except Exception:  # noqa: BLE001 - the decoder reports why the file cannot be read
        return None


def _too_large(size, max_pixels):
    """Why an image of `size` ((width, height); None = unknown) is refused, or ''."""
    if size is None or max_pixels is None:
        return ""
    width, height = size
    if width * height <= max_pixels:
        return ""
    return (
        f"{width}×{height} = {width * height} pixels exceeds data.max_pixels = {max_pixels} "
        "(not decoded)"
    )


def _decodable(paths):
    """The subset of `paths` that decode, found by one parallel tf.data pass."""
    if not paths:
        return set()

    def check(path):
        return path, tf.shape(decode_image(path))

    ds = tf.data.Dataset.from_tensor_slices(paths)
    ds = ds.map(check, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    return {p.decode() for p, _ in ds.as_numpy_iterator()}


def _failure_reason(path):
    """Why `decode_image` fails on `path`: decoded again eagerly to catch the error."""
    try:
        decode_image(tf.constant(path))
    except Exception as e:  # noqa: BLE001 - any decoder error is the reason being reported
        message = getattr(e, "message", None) or str(e) or type(e).__name__
        return re.sub(r"\s*\[Op:.*", "", message.split("}}")[-1].strip().splitlines()[0])
    return "failed to decode inside tf.data"


def _stamp(path):
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def _read_cache(cache_path):
    if not cache_path or not os.path.exists(cache_path):
        return {}
    try:
        with open(cache_path, encoding="utf-8") as f:
            content = json.load(f)
    except (OSError, ValueError) as e:
        logging.warning("ignoring unreadable scan cache %s (%s)", cache_path, e)
        return {}
    return content.get("files", {}) if content.get("version") == _CACHE_VERSION else {}


def _write_cache(cache_path, verified):
    os.makedirs(os.path.dirname(os.path.abspath(cache_path)), exist_ok=True)
    tmp = f"{cache_path}.{os.getpid()}.tmp"  # workers sharing a workdir never share a tmp file
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"version": _CACHE_VERSION, "files": verified}, f)
    os.replace(tmp, cache_path)
