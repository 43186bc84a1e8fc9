"""Whole slides: reader backends, the pyramid writer, phantom slides and tiling."""

import json
import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from kerasg2c import errors
from kerasg2c.data import layout
from kerasg2c.phantoms import slides as slide_phantoms
from kerasg2c.slides import pyramid, reader, tiling, tissue
from tests.conftest import run_python

openslide = pytest.importorskip("openslide")

HEIGHT, WIDTH = 768, 1024


@pytest.fixture(scope="session")
def phantom_slide(tmp_path_factory):
    """One 1024x768 phantom slide in every stain (folder, slide.json)."""
    out = tmp_path_factory.mktemp("phantom")
    meta = slide_phantoms.write_slides(out, height=HEIGHT, width=WIDTH, seed=3)
    return out, meta


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


# Phantom slides


def test_phantom_slides_are_deterministic_and_share_geometry(phantom_slide, tmp_path):
    out, meta = phantom_slide
    again = slide_phantoms.write_slides(tmp_path, height=HEIGHT, width=WIDTH, seed=3)
    assert again == meta and 0.25 <= meta["tissue_fraction"] <= 0.5
    for name in ("PAS.tif", "MASSON.tif", "tissue_mask.png"):
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes()
    true = np.asarray(Image.open(out / "tissue_mask.png")) > 0
    assert true.shape == (HEIGHT // 16, WIDTH // 16)
    glass = {}
    for stain in meta["stains"]:
        with reader.open_slide(out / f"{stain}.tif") as slide:
            assert slide.level_dimensions[0] == (WIDTH, HEIGHT)
            od = tissue.optical_density(slide.read_region(0, 0, 0, WIDTH, HEIGHT))
        glass[stain] = od < np.median(od[::16, ::16][~true]) + 0.05  # glass plus noise
        assert glass[stain][::16, ::16][true].mean() < 0.35  # tissue: lumina only
        assert glass[stain][::16, ::16][~true].mean() > 0.99
    for stain in meta["stains"]:
        agreement = (glass[stain] == glass["PAS"]).mean()
        assert agreement > 0.97, (stain, agreement)


# Tiling


def _true_shares(meta, out, size):
    """Tissue share of each size x size level-0 tile under the true mask."""
    true = np.asarray(Image.open(out / "tissue_mask.png")) > 0
    step = size // meta["mask_downsample"]
    return {
        (x, y): true[y // 16 : y // 16 + step, x // 16 : x // 16 + step].mean()
        for y in range(0, HEIGHT, size)
        for x in range(0, WIDTH, size)
    }


def test_kept_tiles_cover_the_true_tissue(phantom_slide, tmp_path):
    out, meta = phantom_slide
    index, written = tiling.tile_slide(
        out / "PAS.tif", tmp_path / "tiles", tmp_path / "index.json", prefix="s", size=128
    )
    kept = {(t["x0"], t["y0"]) for t in index["tiles"]}
    shares = _true_shares(meta, out, 128)
    tissue_tiles = {xy for xy, share in shares.items() if share >= 0.5}
    assert written == len(kept) == len(os.listdir(tmp_path / "tiles"))
    assert len(kept & tissue_tiles) >= 0.95 * len(tissue_tiles)
    assert all(shares[xy] > 0 for xy in kept)


def test_bare_glass_gives_no_tiles(tmp_path):
    glass = np.random.default_rng(4).normal(245, 2, (512, 512, 3)).clip(0, 255).astype(np.uint8)
    Image.fromarray(glass).save(tmp_path / "glass.png")
    index, written = tiling.tile_slide(
        tmp_path / "glass.png", tmp_path / "tiles", tmp_path / "glass.json", prefix="glass"
    )
    assert index["tiles"] == [] and written == 0 and index["grid_tiles"] == 4


def test_backends_cut_identical_tiles(phantom_slide, tmp_path):
    out, _ = phantom_slide
    for backend in ("openslide", "tifffile"):
        tiling.tile_slide(
            out / "HE.tif",
            tmp_path / backend,
            tmp_path / f"{backend}.json",
            prefix="he",
            level=1,
            size=128,
            backend=backend,
        )
    names = sorted(os.listdir(tmp_path / "tifffile"))
    assert names and names == sorted(os.listdir(tmp_path / "openslide"))
    for name in names:
        a = np.asarray(Image.open(tmp_path / "openslide" / name))
        b = np.asarray(Image.open(tmp_path / "tifffile" / name))
        np.testing.assert_array_equal(a, b)


def _tile_cli(slide, root, *flags):
    return run_python(
        ["-m", "kerasg2c.tools.tile", f"--slide={slide}", f"--out={root}", *flags], timeout=120
    )


def _tree(root):
    """{relative path: bytes} of every file under root."""
    return {
        os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), "rb").read()
        for d, _, files in os.walk(root)
        for f in files
    }


def test_cli_writes_the_data_root_layout_and_resumes(phantom_slide, tmp_path):
    out, _ = phantom_slide
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    for root in (whole, resumed):
        proc = _tile_cli(out / "PAS.tif", root, "--size=128", "--label=noa", "--split=val")
        assert proc.returncode == 0, proc.stderr
    folder = resumed / "labeled" / "val" / "noa"
    names = sorted(os.listdir(folder))
    assert len(names) >= 8 and all(n.startswith("PAS__l0_x") for n in names)
    paths, labels, patients = layout.list_labeled(resumed, "val", ("noa",))
    assert len(paths) == len(names) and set(patients) == {"PAS"} and not labels.any()
    # A killed run: some tiles missing, one half written, a temporary left, no index.
    old = 1_000_000_000
    for name in names[: len(names) // 2]:
        os.utime(folder / name, ns=(old, old))
    for name in names[len(names) // 2 : -1]:
        os.remove(folder / name)
    last = folder / names[-1]
    last.write_bytes(last.read_bytes()[:500])
    (folder / f".{names[-1]}.tmp").write_bytes(b"partial")
    os.remove(resumed / "tiles" / "PAS.json")
    proc = _tile_cli(out / "PAS.tif", resumed, "--size=128", "--label=noa", "--split=val")
    assert proc.returncode == 0, proc.stderr
    done = len(names) // 2
    assert f"({len(names) - done} written, {done} already there)" in proc.stderr
    assert all(os.stat(folder / n).st_mtime_ns == old for n in names[:done])
    assert _tree(resumed) == _tree(whole)
    index = json.loads((resumed / "tiles" / "PAS.json").read_text())
    assert sorted(t["file"] for t in index["tiles"]) == [f"labeled/val/noa/{n}" for n in names]


def test_cli_writes_reference_tiles_of_a_stain(phantom_slide, tmp_path):
    out, _ = phantom_slide
    proc = _tile_cli(out / "MASSON.tif", tmp_path, "--stain=MASSON", "--level=1", "--size=64")
    assert proc.returncode == 0, proc.stderr
    paths = layout.list_reference(tmp_path, "MASSON")
    index = json.loads((tmp_path / "tiles" / "MASSON.json").read_text())
    assert len(paths) == len(index["tiles"]) > 0 and index["downsample"] == 2.0
    assert Image.open(paths[0]).size == (64, 64)


def test_cli_names_an_unreadable_slide_and_exits_2(tmp_path):
    bad = tmp_path / "broken.svs"
    bad.write_bytes(b"II*\0" + bytes(100))
    proc = _tile_cli(bad, tmp_path / "root")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: slide {bad}")
