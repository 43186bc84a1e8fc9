"""Whole-slide reading: the reader backends read the same regions at every level, the
thumbnail, TIFF strips, separate planes and SubIFD levels, PNG alpha, bad files named, and
the pyramid writer's levels."""

import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from kerasg2c import errors
from kerasg2c.slides import pyramid, reader

openslide = pytest.importorskip("openslide")

HEIGHT, WIDTH = 768, 1024


@pytest.fixture(scope="session")
def random_pyramid(tmp_path_factory):
    """A 1024x768 random image written by write_pyramid (every downsample exact)."""
    image = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8)
    path = tmp_path_factory.mktemp("pyramid") / "random.tif"
    pyramid.write_pyramid(path, _tiles_of(image, 256), HEIGHT, WIDTH, tile_size=256)
    return path, image


def _tiles_of(image, size):
    return lambda row, col: image[row * size : (row + 1) * size, col * size : (col + 1) * size]


def _expected(image, x, y, width, height):
    """The region of `image`, white outside it."""
    out = np.full((height, width, 3), 255, np.uint8)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + width, image.shape[1]), min(y + height, image.shape[0])
    out[y0 - y : y1 - y, x0 - x : x1 - x] = image[y0:y1, x0:x1]
    return out


# Reader


def test_backends_read_the_same_regions_at_every_level(random_pyramid):
    path, image = random_pyramid
    with (
        reader.open_slide(path, backend="openslide") as a,
        reader.open_slide(path, backend="tifffile") as b,
    ):
        assert a.level_dimensions == b.level_dimensions == [(1024, 768), (512, 384), (256, 192)]
        assert a.level_downsamples == b.level_downsamples == [1.0, 2.0, 4.0]
        regions = [(0, 0, 100, 60), (200, 130, 300, 200), (-20, -30, 70, 50), (230, 170, 64, 64)]
        for level in range(a.level_count):
            for region in regions:
                np.testing.assert_array_equal(
                    a.read_region(level, *region), b.read_region(level, *region)
                )
        np.testing.assert_array_equal(
            b.read_region(0, 900, 700, 200, 100), _expected(image, 900, 700, 200, 100)
        )
        assert (b.read_region(2, 250, 0, 20, 20)[:, 6:] == 255).all()  # past the right edge


def test_thumbnail_is_a_block_mean_of_the_smallest_big_enough_level(random_pyramid):
    path, image = random_pyramid
    with reader.open_slide(path, backend="tifffile") as slide:
        thumbnail = slide.thumbnail(200)  # level 2 (256 wide) halved
        level2 = slide.read_region(2, 0, 0, 256, 192)
    assert thumbnail.shape == (96, 128, 3)
    np.testing.assert_array_equal(thumbnail, reader.block_mean(level2, 2))


def test_tifffile_backend_reads_strips_and_separate_planes(tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (300, 500, 3), np.uint8)
    tifffile.imwrite(tmp_path / "strips.tif", image, rowsperstrip=7, compression="zlib")
    tifffile.imwrite(
        tmp_path / "planes.tif",
        np.moveaxis(image, -1, 0),
        photometric="rgb",
        planarconfig="separate",
        tile=(64, 64),
    )
    for name in ("strips.tif", "planes.tif"):
        with reader.open_slide(tmp_path / name, backend="tifffile") as slide:
            np.testing.assert_array_equal(
                slide.read_region(0, 33, 21, 250, 200), image[21:221, 33:283]
            )


def test_tifffile_backend_finds_levels_in_subifds_and_among_pages(tmp_path):
    image = np.random.default_rng(5).integers(0, 256, (256, 384, 3), np.uint8)
    with tifffile.TiffWriter(tmp_path / "subifds.tif") as tif:  # OME-style
        tif.write(image, tile=(64, 64), subifds=1)
        tif.write(image[::2, ::2], tile=(64, 64), subfiletype=1)
    with tifffile.TiffWriter(tmp_path / "pages.tif") as tif:  # a stripped thumbnail between
        tif.write(image, tile=(64, 64), metadata=None)
        tif.write(image[::8, ::8], metadata=None)
        tif.write(image[::4, ::4], tile=(64, 64), metadata=None)
        tif.write(image[::2, ::2], tile=(64, 64), metadata=None)
    for name, levels in (("subifds.tif", 2), ("pages.tif", 3)):
        with reader.open_slide(tmp_path / name, backend="tifffile") as slide:
            assert slide.level_dimensions == [(384 >> k, 256 >> k) for k in range(levels)]
            for k in range(levels):
                np.testing.assert_array_equal(
                    slide.read_region(k, 5, 7, 40, 30), image[:: 2**k, :: 2**k][7:37, 5:45]
                )


def test_png_with_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[..., 0], rgba[:20, :, 3] = 200, 255  # bottom half transparent
    Image.fromarray(rgba).save(tmp_path / "a.png")
    with reader.open_slide(tmp_path / "a.png") as slide:
        assert slide.level_dimensions == [(60, 40)]
        region = slide.read_region(0, 0, 0, 60, 40)
    np.testing.assert_array_equal(region[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(region[30, 0], [255, 255, 255])


@pytest.mark.parametrize("backend", ["auto", "tifffile", "openslide"])
def test_bad_files_raise_user_errors_naming_the_path(random_pyramid, tmp_path, backend):
    data = open(random_pyramid[0], "rb").read()
    (tmp_path / "truncated.tif").write_bytes(data[: len(data) // 2])
    (tmp_path / "noise.svs").write_bytes(np.random.default_rng(2).bytes(4096))
    for name in ("truncated.tif", "noise.svs", "missing.tif"):
        path = str(tmp_path / name)
        with pytest.raises(errors.UserError, match=path):
            with reader.open_slide(path, backend=backend) as slide:
                slide.read_region(0, 0, 0, WIDTH, HEIGHT)


# Pyramid


def test_pyramid_levels_are_top_level_pages_of_halved_means(tmp_path):
    image = np.random.default_rng(3).integers(0, 256, (771, 1000, 3), np.uint8)
    path = tmp_path / "odd.tif"
    seen = []
    pyramid.write_pyramid(
        path,
        _tiles_of(image, 256),
        771,
        1000,
        tile_size=256,
        workdir=tmp_path,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (16 + 4 + 1, 21) and os.listdir(tmp_path) == ["odd.tif"]
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 3 and [p.subfiletype for p in tif.pages] == [0, 1, 1]
        assert all(p.is_tiled and p.compression == 8 for p in tif.pages)  # zlib
    slide = openslide.OpenSlide(path)
    assert slide.level_dimensions == ((1000, 771), (500, 386), (250, 193))
    np.testing.assert_allclose(
        slide.level_downsamples, [1, 1000 / 500 / 2 + 771 / 386 / 2, 1000 / 250 / 2 + 771 / 193 / 2]
    )
    level0 = np.asarray(slide.read_region((0, 0), 0, (1000, 771)))[..., :3]
    np.testing.assert_array_equal(level0, image)
    with reader.open_slide(path, backend="tifffile") as ours:
        upper = image
        for level in (1, 2):
            lower = ours.read_region(level, 0, 0, *ours.level_dimensions[level])
            expected = reader.block_mean(upper, 2).astype(int)
            assert np.abs(lower.astype(int) - expected).max() <= 1
            upper = lower
