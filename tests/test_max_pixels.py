"""Tests of `data.max_pixels`: an image whose header gives more pixels is refused without
being decoded (a decompression bomb among the training patches)."""

import io
import json
import os
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
import tifffile
from conftest import run_python
from PIL import Image

from kerasg2c.data import decode, pipeline
from kerasg2c.errors import UserError
from kerasg2c.jobs import reporting, shared_config

BOMB_SIDE = 12000  # 12000 × 12000 RGB: 432 MB as uint8, 1.7 GB as the decoder's float32
BOMB_REASON = "12000×12000 = 144000000 pixels exceeds data.max_pixels = 67108864 (not decoded)"
MAX_PIXELS = 64 * 1024 * 1024
RGB8 = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)  # 7 × 6


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bomb(side):
    """A valid side × side black RGB PNG, compressed row by row (never whole in memory)."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + 3 * side)  # filter byte 0, then the row's zero pixels
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.fixture(scope="module")
def bomb_bytes():
    return _png_bomb(BOMB_SIDE)


@pytest.fixture
def files(tmp_path, bomb_bytes):
    """Three small good PNGs and the bomb, in one folder: (good paths, bomb path)."""
    png = tf.io.encode_png(RGB8).numpy()
    good = [_write(tmp_path / f"good{i}.png", png) for i in range(3)]
    return good, _write(tmp_path / "bomb.png", bomb_bytes)


def _no_decoding_of(path, monkeypatch):
    """Makes the scan fail the test if it decodes `path`."""
    real = decode._decodable

    def decodable(paths):
        assert path not in paths, f"{path} was decoded"
        return real(paths)

    monkeypatch.setattr(decode, "_decodable", decodable)


def test_the_bomb_is_small_on_disk_and_a_valid_png(bomb_bytes, monkeypatch):
    assert len(bomb_bytes) < 1_000_000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # Pillow's own bomb warning
    with Image.open(io.BytesIO(bomb_bytes)) as image:
        image.verify()  # chunk CRCs
    # Its pixel data inflates to 432 MB (counted in bounded pieces).
    inflater, data, inflated = zlib.decompressobj(), bomb_bytes[41:-16], 0
    while data:
        inflated += len(inflater.decompress(data, 1 << 24))
        data = inflater.unconsumed_tail
    assert inflated == BOMB_SIDE * (1 + 3 * BOMB_SIDE) and inflater.eof and not inflater.unused_data


def test_header_size_reads_every_format_without_decoding(tmp_path, files):
    good, bomb = files
    tiff = str(tmp_path / "planar.tif")
    tifffile.imwrite(tiff, np.moveaxis(RGB8, -1, 0), photometric="rgb", planarconfig="separate")
    jpeg = _write(tmp_path / "a.jpg", tf.io.encode_jpeg(RGB8).numpy())
    assert decode.header_size(bomb) == (BOMB_SIDE, BOMB_SIDE)
    assert [decode.header_size(p) for p in (good[0], tiff, jpeg)] == [(7, 6)] * 3
    assert decode.header_size(_write(tmp_path / "text.png", b"not an image")) is None
    assert decode.header_size(str(tmp_path / "missing.png")) is None


def test_scan_skips_the_bomb_undecoded_and_names_its_size(files, monkeypatch):
    good, bomb = files
    _no_decoding_of(bomb, monkeypatch)
    result = decode.scan_images([*good, bomb], max_pixels=MAX_PIXELS)
    assert result.good == tuple(good) and result.bad == ((bomb, BOMB_REASON),)
    with pytest.raises(UserError) as raised:
        decode.scan_images([*good, bomb], strict=True, max_pixels=MAX_PIXELS)
    assert str(raised.value) == f"unreadable image {bomb}: {BOMB_REASON} (1 unreadable in all)"


def test_a_small_limit_refuses_a_tiff_from_its_header(tmp_path, monkeypatch):
    tiff = str(tmp_path / "a.tif")
    tifffile.imwrite(tiff, RGB8)
    assert decode.scan_images([tiff], max_pixels=42).good == (tiff,)
    _no_decoding_of(tiff, monkeypatch)
    assert decode.scan_images([tiff], max_pixels=41).bad == (
        (tiff, "7×6 = 42 pixels exceeds data.max_pixels = 41 (not decoded)"),
    )


def test_files_within_the_limit_or_without_a_readable_header_go_to_the_decoder(tmp_path):
    png = tf.io.encode_png(RGB8).numpy()
    paths = [
        _write(tmp_path / "text.png", b"this is not an image\n"),
        _write(tmp_path / "cut_header.png", png[:40]),  # too short for Pillow's header read
        _write(tmp_path / "cut_pixels.png", png[:150]),  # a 7 × 6 header, pixel data cut
    ]
    assert [decode.header_size(p) for p in paths] == [None, None, (7, 6)]
    limited = decode.scan_images(paths, max_pixels=42)  # 42 pixels: within the limit
    assert limited.bad == decode.scan_images(paths).bad and len(limited.bad) == 3
    assert not any("max_pixels" in reason for _, reason in limited.bad)


def test_the_cache_does_not_let_a_file_over_a_new_limit_through(files, tmp_path, monkeypatch):
    good, _ = files
    cache = str(tmp_path / "work" / "scan.json")
    assert decode.scan_images(good, cache_path=cache, max_pixels=1000).good == tuple(good)
    with open(cache, encoding="utf-8") as f:
        entries = json.load(f)["files"]
    assert [entries[os.path.abspath(p)][2] for p in good] == [[7, 6]] * 3
    headers, decoded = [], []
    monkeypatch.setattr(decode, "header_size", lambda p: headers.append(p))
    monkeypatch.setattr(decode, "_decodable", lambda paths: decoded.extend(paths) or set())
    again = decode.scan_images(good, cache_path=cache, max_pixels=41)
    assert again.good == () and headers == decoded == []  # refused from the cache entries
    assert dict(again.bad)[good[0]] == "7×6 = 42 pixels exceeds data.max_pixels = 41 (not decoded)"


def test_load_labeled_split_reports_the_bomb_as_skipped(tmp_path, bomb_bytes, monkeypatch):
    png = tf.io.encode_png(RGB8).numpy()
    _write(tmp_path / "labeled/train/a/p0__x.png", png)
    _write(tmp_path / "labeled/train/b/p1__y.png", png)
    bomb = _write(tmp_path / "labeled/train/b/p1__bomb.png", bomb_bytes)
    _no_decoding_of(bomb, monkeypatch)
    split = pipeline.load_labeled_split(str(tmp_path), "train", max_pixels=MAX_PIXELS)
    assert len(split) == 2 and split.skipped == ((bomb, BOMB_REASON),)
    summary = reporting.data_summary({"train": split})["train"]
    assert summary["skipped"] == [{"path": bomb, "reason": BOMB_REASON}]


# Run in a fresh process. The resident set is sampled every millisecond while the scan
# runs (ru_maxrss would keep the high-water mark of TensorFlow's import); a positive
# control allocates the bomb's decoded size in the same way, so the sampler is shown to
# catch an allocation of that size.
PEAK_SCRIPT = """
import json, resource, sys, threading, time
import numpy as np
from kerasg2c.data import decode

*good, bomb = sys.argv[1:]
decode.scan_images(good)  # TF and tf.data loaded and warm before the measure
PAGE = resource.getpagesize() / 2**20

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

def peak_growth_mb(work):
    peak, done = [0.0], threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.001)
    before = rss_mb()
    sampler = threading.Thread(target=sample)
    sampler.start()
    result = work()
    time.sleep(0.05)
    done.set()
    sampler.join()
    return max(peak[0], rss_mb()) - before, result

LIMIT = 64 * 1024 * 1024
growth, result = peak_growth_mb(lambda: decode.scan_images([*good, bomb], max_pixels=LIMIT))
def control():
    pixels = np.ones((12000, 12000, 3), np.uint8)  # the bomb's decoded size, touched
    time.sleep(0.05)
    return int(pixels[-1, -1, -1])
control_growth, _ = peak_growth_mb(control)
print(json.dumps({"growth": growth, "control": control_growth, "bad": result.bad}))
"""

DECODED_MB = BOMB_SIDE**2 * 3 / 2**20  # 412 MiB of uint8 pixels, before the float32 copy
PEAK_BOUND_MB = 200  # MiB


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux /proc needed")
def test_the_scan_peak_memory_stays_far_below_decoding_the_bomb(files):
    good, bomb = files
    proc = run_python(["-c", PEAK_SCRIPT, *good, bomb], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    assert m["bad"] == [[bomb, BOMB_REASON]]
    assert m["control"] > 0.9 * DECODED_MB, m  # the sampler sees an allocation that size
    assert m["growth"] < PEAK_BOUND_MB, m
    print(f"scan peak RSS growth: {m['growth']:.1f} MiB (control {m['control']:.0f} MiB)")


@pytest.mark.parametrize("bad", [0, -1])
def test_a_bad_max_pixels_names_the_key(bad):
    config = shared_config.base_config()
    assert config.data.max_pixels == 67108864
    config.data.max_pixels = bad
    with pytest.raises(
        UserError, match=rf"config key data\.max_pixels={bad}: expected numbers > 0"
    ):
        shared_config.check_shared(config)
