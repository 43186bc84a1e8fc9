"""Whole slides: phantom slides, tissue tiling on every backend, the tiling CLI. Reading
slides and the pyramid writer: test_slide_reader.py."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from kerasg2c.data import layout
from kerasg2c.phantoms import slides as slide_phantoms
from kerasg2c.slides import reader, tiling, tissue
from tests.conftest import run_python

openslide = pytest.importorskip("openslide")

HEIGHT, WIDTH = 768, 1024


@pytest.fixture(scope="session")
def phantom_slide(tmp_path_factory):
    """One 1024x768 phantom slide in every stain (folder, slide.json)."""
    out = tmp_path_factory.mktemp("phantom")
    meta = slide_phantoms.write_slides(out, height=HEIGHT, width=WIDTH, seed=3)
    return out, meta


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
