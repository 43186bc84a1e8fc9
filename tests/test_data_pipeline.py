"""Tests of kerasg2c.data.decode (decoding, scanning) and kerasg2c.data.pipeline (tf.data)."""

import io
import os

import numpy as np
import pytest
import tensorflow as tf
import tifffile
from PIL import Image

from kerasg2c.data import decode, epochs, image_source, pipeline, stain_pairs

RNG = np.random.default_rng(0)
RGB8 = RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)
RGB16 = RNG.integers(0, 65536, (6, 7, 3), dtype=np.uint16)
GREY16 = RNG.integers(0, 65536, (6, 7), dtype=np.uint16)
SMOOTH = np.kron(RNG.integers(40, 216, (4, 4, 3)), np.ones((8, 8, 1))).astype(
    np.uint8
)  # JPEG-friendly


def _png_bytes(array):
    return tf.io.encode_png(array).numpy()  # uint8 or uint16, 1, 3 or 4 channels


def _pil_bytes(array, fmt, **kwargs):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _tiff_bytes(array, **kwargs):
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **kwargs)
    return buffer.getvalue()


def _rgb(array):
    return np.repeat(array[..., None], 3, -1) if array.ndim == 2 else array[..., :3]


DECODE_CASES = {
    "png8.png": (_png_bytes(RGB8), RGB8 / 255, 0),
    "png16.png": (_png_bytes(RGB16), RGB16 / 65535, 1e-6),
    "grey16.png": (_png_bytes(GREY16[..., None]), _rgb(GREY16) / 65535, 1e-6),
    "grey8.png": (_pil_bytes(RGB8[..., 0], "PNG"), _rgb(RGB8[..., 0]) / 255, 0),
    "rgba.png": (_pil_bytes(np.dstack([RGB8, RGB8[..., :1]]), "PNG"), RGB8 / 255, 0),
    "smooth.jpg": (_pil_bytes(SMOOTH, "JPEG", quality=95), SMOOTH / 255, 0.03),
    "rgb.bmp": (_pil_bytes(RGB8, "BMP"), RGB8 / 255, 0),
    "rgb8.tif": (_tiff_bytes(RGB8), RGB8 / 255, 1e-6),
    "rgb16.tiff": (_tiff_bytes(RGB16), RGB16 / 65535, 1e-6),
    "grey16.tif": (_tiff_bytes(GREY16), _rgb(GREY16) / 65535, 1e-6),
    "rgba.tif": (
        _tiff_bytes(np.dstack([RGB8, RGB8[..., :1]]), photometric="rgb"),
        RGB8 / 255,
        1e-6,
    ),
    "planar.tif": (
        _tiff_bytes(np.moveaxis(RGB8, -1, 0), photometric="rgb", planarconfig="separate"),
        RGB8 / 255,
        1e-6,
    ),
}


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.mark.parametrize("name", sorted(DECODE_CASES))
def test_decode_image_values(tmp_path, name):
    data, expected, tolerance = DECODE_CASES[name]
    path = _write(tmp_path / name, data)
    eager = decode.decode_image(tf.constant(path))
    graph = next(iter(tf.data.Dataset.from_tensors(path).map(decode.decode_image)))
    for image in (eager, graph):
        assert image.dtype == tf.float32 and image.shape == expected.shape[:2] + (3,)
        error = np.abs(image.numpy() - expected)
        assert (error.mean() if name.endswith(".jpg") else error.max()) <= tolerance + 1e-7


# --- scan_images -------------------------------------------------------------------------


def _bad_files(directory):
    png = _png_bytes(RGB8)
    jpeg = _pil_bytes(SMOOTH, "JPEG")
    return {
        "random.png": _write(directory / "random.png", RNG.bytes(300)),
        "truncated.png": _write(directory / "truncated.png", png[: len(png) * 2 // 3]),
        "text.png": _write(directory / "text.png", b"this is not an image\n"),
        "empty.png": _write(directory / "empty.png", b""),
        "truncated.jpg": _write(directory / "truncated.jpg", jpeg[: len(jpeg) // 2]),
        "truncated.tif": _write(directory / "truncated.tif", _tiff_bytes(RGB8)[:100]),
    }


def _good_files(directory, n=3):
    return [_write(directory / f"good{i}.png", _png_bytes(RGB8 // (i + 1))) for i in range(n)]


def test_scan_reports_bad_files(tmp_path):
    good = _good_files(tmp_path)
    bad = _bad_files(tmp_path)
    paths = sorted(good + list(bad.values()))
    result = decode.scan_images(paths)
    assert result.good == tuple(good)
    assert [p for p, _ in result.bad] == sorted(bad.values())
    reasons = dict(result.bad)
    assert "Invalid PNG data" in reasons[bad["truncated.png"]]
    assert "Unknown image file format" in reasons[bad["text.png"]]
    assert "empty" in reasons[bad["empty.png"]]
    assert "JPEG" in reasons[bad["truncated.jpg"]]
    with pytest.raises(ValueError, match=r"unreadable image .*empty\.png: .*6 unreadable"):
        decode.scan_images(paths, strict=True)


def test_scan_cache_rechecks_only_new_or_changed(tmp_path, monkeypatch):
    good = _good_files(tmp_path / "img")
    bad = _bad_files(tmp_path / "img")["text.png"]
    cache = str(tmp_path / "work" / "scan.json")
    first = decode.scan_images(good + [bad], cache_path=cache)
    checked = []
    real = decode._decodable
    monkeypatch.setattr(
        decode, "_decodable", lambda paths: checked.append(list(paths)) or real(paths)
    )
    second = decode.scan_images(good + [bad], cache_path=cache)
    assert (second.good, second.bad) == (first.good, first.bad) and checked == [[bad]]
    _write(good[1], _png_bytes(RGB8)[:50])  # same name, new content and mtime
    os.utime(good[1], ns=(1, 1))
    third = decode.scan_images(good + [bad], cache_path=cache)
    assert checked[-1] == [good[1], bad]
    assert third.good == (good[0], good[2]) and [p for p, _ in third.bad] == sorted([good[1], bad])


# --- LabeledSplit.dataset ----------------------------------------------------------------

N, B, S = 13, 4, 8


def _split_with_values(tmp_path, n=N):
    """A 2-class split whose image i is random noise around grey level 10 * i + 60."""
    paths, labels = [], []
    for i in range(n):
        noise = RNG.integers(-40, 41, (12, 10, 3))
        image = np.clip(10 * i + 60 + noise, 0, 255).astype(np.uint8)
        paths.append(_write(tmp_path / f"c{i % 2}" / f"p{i:02d}__x.png", _png_bytes(image)))
        labels.append(i % 2)
    return pipeline.LabeledSplit(
        "train", ("c0", "c1"), tuple(paths), np.array(labels, np.int32), ("p",) * n
    )


def _epoch(split, **kwargs):
    kwargs = {"batch_size": B, "image_size": S, "training": True, **kwargs}
    return [(x.numpy(), y.numpy()) for x, y in split.dataset(**kwargs)]


def _order(batches):
    """Example index of every image, recovered from its mean grey level."""
    return [int(round((m * 255 - 60) / 10)) for x, _ in batches for m in x.mean(axis=(1, 2, 3))]


def _same(a, b):
    return len(a) == len(b) and all(
        np.array_equal(x1, x2) and np.array_equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b)
    )


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return _split_with_values(tmp_path_factory.mktemp("split"))


def test_shapes_ranges_and_eval_order(split):
    unit = _epoch(split, training=False)
    assert [x.shape for x, _ in unit] == [(B, S, S, 3)] * 3 + [(1, S, S, 3)]
    assert all(x.dtype == np.float32 and y.dtype == np.int32 for x, y in unit)
    assert _order(unit) == list(range(N))
    assert np.concatenate([y for _, y in unit]).tolist() == split.labels.tolist()
    symmetric = _epoch(split, training=False, value_range="symmetric")
    for (u, _), (s, _) in zip(unit, symmetric):
        assert 0 <= u.min() and u.max() <= 1 and -1 <= s.min() and s.max() <= 1
        np.testing.assert_allclose(s, u * 2 - 1, atol=1e-6)
    with pytest.raises(ValueError, match="value_range"):
        split.dataset(batch_size=B, image_size=S, value_range="0-255")


def test_height_by_width_images(split):
    """An image size (H, W) resizes to H × W; S and (S, S) give the same images."""
    tall = _epoch(split, training=False, image_size=(S, S // 2))
    assert [x.shape for x, _ in tall] == [(B, S, S // 2, 3)] * 3 + [(1, S, S // 2, 3)]
    assert _order(tall) == list(range(N))
    assert _same(_epoch(split, training=False, image_size=(S, S)), _epoch(split, training=False))
    images = pipeline.load_images(split, (6, 10))
    assert images.shape == (N, 6, 10, 3)
    assert image_source.image_shape(S) == (S, S) and image_source.image_shape((6, 10)) == (6, 10)


def test_training_order_is_a_function_of_seed_and_epoch(split):
    epoch0 = _epoch(split, seed=3, epoch=0)
    assert len(epoch0) == N // B  # drop_remainder defaults to training
    assert _same(epoch0, _epoch(split, seed=3, epoch=0))
    order0 = _order(epoch0)
    assert len(set(order0)) == len(order0) and order0 != sorted(order0)
    assert order0 != _order(_epoch(split, seed=3, epoch=1))
    assert order0 != _order(_epoch(split, seed=4, epoch=0))


def test_skip_batches_resumes_bitwise_with_augmentation(split):
    full = _epoch(split, seed=1, epoch=2, augment=True)
    for k in (1, 2):
        assert _same(_epoch(split, seed=1, epoch=2, augment=True, skip_batches=k), full[k:])
    assert _same(_epoch(split, seed=1, epoch=2, augment=True, cache=False), full)


def test_augmentation_changes_images_within_range(split):
    plain = _epoch(split, seed=5, epoch=0)
    for value_range, low in (("unit", 0), ("symmetric", -1)):
        augmented = _epoch(split, seed=5, epoch=0, augment=True, value_range=value_range)
        assert [y.tolist() for _, y in augmented] == [y.tolist() for _, y in plain]
        for (a, _), (p, _) in zip(augmented, plain):
            assert low <= a.min() and a.max() <= 1
            assert not np.allclose(a if low == 0 else (a + 1) / 2, p, atol=1e-3)
    image = tf.constant(RGB8 / 255, tf.float32)
    flipped = epochs.augment_image(image, tf.constant([0, 0], tf.int64))
    assert (
        flipped.shape == image.shape
        and 0 <= float(tf.reduce_min(flipped)) <= float(tf.reduce_max(flipped)) <= 1
    )


def _counting_split(n=8):
    """A split whose decoder counts its calls."""
    calls = []

    def count(key):
        calls.append(key)
        return np.float32(key)

    def decode_fn(key):
        value = tf.numpy_function(count, [key], tf.float32, stateful=True)
        return tf.fill([5, 5, 3], value)

    keys = tf.data.Dataset.from_tensor_slices(
        (np.arange(n, dtype=np.float32) / n, np.zeros(n, np.int32))
    )
    source = image_source.ImageSource(keys, decode_fn, n)
    return pipeline.LabeledSplit(
        "train", ("a",), ("",) * n, np.zeros(n, np.int32), ("",) * n, source=source
    ), calls


def test_cache_is_reused_across_epochs():
    split, calls = _counting_split()
    for epoch in range(3):
        _epoch(split, epoch=epoch, augment=True)
        _epoch(split, training=False)
    assert len(calls) == len(split)
    _epoch(split, image_size=S // 2)  # another size: another cache
    assert len(calls) == 2 * len(split)
    for epoch in range(2):
        _epoch(split, epoch=epoch, cache=False)
    assert len(calls) == 4 * len(split)


def test_load_labeled_split_skips_unreadable(tmp_path):
    for i in range(3):
        _write(tmp_path / "labeled/train/a" / f"p{i}__x.png", _png_bytes(RGB8))
    _write(tmp_path / "labeled/train/b/p9__y.png", _png_bytes(RGB8))
    broken = _write(tmp_path / "labeled/train/b/p9__broken.png", b"\x89PNG\r\n\x1a\n garbage")
    split = pipeline.load_labeled_split(str(tmp_path), "train")
    assert len(split) == 4 and split.classes == ("a", "b")
    assert split.labels.tolist() == [0, 0, 0, 1] and split.patients == ("p0", "p1", "p2", "p9")
    assert [p for p, _ in split.skipped] == [broken] and broken not in split.paths
    with pytest.raises(ValueError, match="p9__broken.png"):
        pipeline.load_labeled_split(str(tmp_path), "train", strict=True)


def test_unpaired_dataset(split):
    a, b = split.paths[:3], split.paths

    def unpaired_dataset(a, b, **kwargs):
        sources = (image_source.ImageSource.from_files(a), image_source.ImageSource.from_files(b))
        return stain_pairs.unpaired_dataset(*sources, **kwargs)

    kwargs = {"batch_size": 2, "image_size": S, "seed": 7, "epoch": 1, "augment": True}
    batches = [(x.numpy(), y.numpy()) for x, y in unpaired_dataset(a, b, **kwargs)]
    assert len(batches) == N // 2
    assert all(x.shape == y.shape == (2, S, S, 3) and x.dtype == np.float32 for x, y in batches)
    assert all(-1 <= v.min() and v.max() <= 1 for pair in batches for v in pair)
    again = [(x.numpy(), y.numpy()) for x, y in unpaired_dataset(a, b, **kwargs, skip_batches=2)]
    assert _same(again, batches[2:])
    plain = unpaired_dataset(a, b, batch_size=2, image_size=S, seed=7, epoch=1)
    plain = [((x.numpy() + 1) / 2, (y.numpy() + 1) / 2) for x, y in plain]
    side_a, side_b = _order(plain), _order([(y, None) for _, y in plain])
    assert sorted(side_a) == sorted([0, 1, 2] * 4)  # the shorter side cycles
    assert len(set(side_b)) == N - 1  # the longer side: 12 of one pass (no partial batch)


def test_steps_and_memory():
    assert (
        pipeline.steps_per_epoch(13, 4) == 3
        and pipeline.steps_per_epoch(13, 4, drop_remainder=False) == 4
    )
    assert image_source.fits_in_memory(10, 8, 10 * 8 * 8 * 3) and not image_source.fits_in_memory(
        10, 8, 1919
    )
    assert image_source.fits_in_memory(10, (8, 4), 10 * 8 * 4 * 3)
    assert not image_source.fits_in_memory(10, (8, 4), 959)
