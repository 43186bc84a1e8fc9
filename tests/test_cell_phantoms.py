"""Tests for kerasg2c.phantoms.cells, cell_shapes and cell_tiles: cell types, tiles, masks,
labels, DATA_ROOT, CLI. The nuisance knob: test_cell_nuisance.py."""

import csv
import json

import numpy as np
import pytest
from conftest import run_python
from phantom_checks import written_files
from PIL import Image
from scipy import ndimage
from skimage import color, measure, morphology

from kerasg2c.data import layout
from kerasg2c.phantoms import cell_shapes as cs
from kerasg2c.phantoms import cell_tiles as ct
from kerasg2c.phantoms import cells as cp

SMALL_CELLS = {"n_train": 30, "n_val": 10, "n_test": 10}
SMALL_TILES = {"n_train": 4, "n_val": 2, "n_test": 2, "size": 96}
IOU_BOUND = 0.9  # measured 0.95–0.98 on 256 px tiles


def _haematoxylin(image):
    """Haematoxylin concentration by colour deconvolution with the module's stain matrix
    (rgb2hed's output is c / ln(1e6))."""
    np.testing.assert_allclose(color.rgb_from_hed, cs.STAIN_MATRIX)
    return color.rgb2hed(image)[..., 0] * np.log(1e6)


def _segment(image):
    """The later pipeline: H image 255·exp(−c_H) < 120, fill holes, drop < 200 px, open 7×7."""
    nuclei = ndimage.binary_fill_holes(255 * np.exp(-_haematoxylin(image)) < 120)
    nuclei = morphology.remove_small_objects(nuclei, max_size=199)
    return ndimage.binary_opening(nuclei, np.ones((7, 7), bool))


def _lobes(mask):
    """Lobes of a nucleus: maxima of its distance transform that stand out by 1 px."""
    return measure.label(morphology.h_maxima(ndimage.distance_transform_edt(mask), 1.0)).max()


def test_make_cell_is_seeded_and_checks_arguments():
    a, mask = cs.make_cell(np.random.default_rng(5), "monocyte")
    b, _ = cs.make_cell(np.random.default_rng(5), "monocyte")
    c, _ = cs.make_cell(np.random.default_rng(6), "monocyte")
    assert a.dtype == np.uint8 and a.shape == (32, 32, 3) and mask.shape == (32, 32)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert (a[0, 0] > 235).all() and mask[16, 16]  # white corner, nucleus at the centre
    assert cs.make_cell(np.random.default_rng(5), "lymphocyte", size=48)[0].shape == (48, 48, 3)
    with pytest.raises(ValueError, match="cell_type"):
        cs.make_cell(np.random.default_rng(0), "plasma_cell")
    with pytest.raises(ValueError, match="size"):
        cs.make_cell(np.random.default_rng(0), "monocyte", size=8)


def test_cell_types_differ_as_the_paper_categories_do():
    stats = {}
    for t, cell_type in enumerate(cs.TYPES):
        rows = []
        for i in range(40):
            image, truth = cs.make_cell(np.random.default_rng([t, i]), cell_type)
            h = _haematoxylin(image)
            nucleus = ndimage.binary_fill_holes(255 * np.exp(-h) < 120)
            props = max(measure.regionprops(measure.label(nucleus)), key=lambda p: p.area)
            ring = ndimage.binary_dilation(truth, iterations=3) & ~truth
            eosin = color.rgb2hed(image)[..., 1][ring].mean() * np.log(1e6)
            rows.append((nucleus.sum(), h[nucleus].mean(), h[nucleus].std() / h[nucleus].mean(),
                         eosin, props.solidity))  # fmt: skip
        stats[cell_type] = dict(zip(("area", "dark", "open", "eosin", "solid"), np.mean(rows, 0)))
    s = {k: {t: v[k] for t, v in stats.items()} for k in stats["lymphocyte"]}
    # Size: lymphocytes smallest, megakaryocytes largest, blasts and monocytes large.
    assert min(s["area"], key=s["area"].get) == "lymphocyte"
    assert max(s["area"], key=s["area"].get) == "megakaryocyte"
    assert s["area"]["neutrophil"] < s["area"]["monocyte"] < s["area"]["megakaryocyte"]
    assert s["area"]["myeloblast"] > 1.6 * s["area"]["lymphocyte"]
    # Chromatin: dense and dark in lymphocytes, open (pale, textured) in blasts.
    assert s["dark"]["lymphocyte"] > s["dark"]["neutrophil"] > s["dark"]["monocyte"]
    assert s["dark"]["monocyte"] > s["dark"]["myeloblast"]
    assert s["open"]["myeloblast"] > 1.3 * max(s["open"]["lymphocyte"], s["open"]["neutrophil"])
    # Cytoplasm: pink rims around neutrophils and megakaryocytes, none around lymphocytes.
    assert min(s["eosin"]["neutrophil"], s["eosin"]["megakaryocyte"]) > 0.4
    assert max(s["eosin"]["lymphocyte"], s["eosin"]["myeloblast"]) < 0.25
    # Segmentation: neutrophil nuclei are the least convex.
    assert (
        s["solid"]["neutrophil"] < 0.85 < min(v for t, v in s["solid"].items() if t != "neutrophil")
    )


@pytest.fixture(scope="module")
def tiles():
    mixed = np.full(len(cs.TYPES), 1 / len(cs.TYPES))
    return [ct.make_tile(np.random.default_rng([9, i]), proportions=mixed) for i in range(3)]


def test_tile_masks_match_the_cells(tiles):
    lobes = {t: [] for t in cs.TYPES}
    for tile in tiles:
        assert tile.image.shape == (256, 256, 3) and tile.image.dtype == np.uint8
        assert tile.instances.dtype == np.uint16 and tile.instances.shape == (256, 256)
        n = len(tile.types)
        assert 25 <= n <= 40 and sum(tile.counts.values()) == n
        np.testing.assert_array_equal(np.unique(tile.instances), np.arange(n + 1))
        assert sum(tile.proportions.values()) == pytest.approx(1.0)
        areas = np.bincount(tile.instances.ravel())[1:]
        assert areas.min() >= 200 and areas.max() <= 1000  # what the 200 px filter keeps
        boxes = ndimage.find_objects(tile.instances)
        for i, (cell_type, box) in enumerate(zip(tile.types, boxes), 1):
            lobes[cell_type].append(_lobes(np.pad(tile.instances[box] == i, 1)))
    mean = {t: np.mean(v) for t, v in lobes.items() if v}
    others = max(v for t, v in mean.items() if t != "neutrophil")
    assert others <= 1.5 and mean["neutrophil"] >= others + 0.4, mean


def test_nuclei_are_recoverable_by_deconvolution_and_threshold(tiles):
    for tile in tiles:
        found, truth = _segment(tile.image), tile.instances > 0
        iou = (found & truth).sum() / (found | truth).sum()
        assert iou > IOU_BOUND, iou
        assert abs(measure.label(found).max() - len(tile.types)) <= 0.15 * len(tile.types)


def test_labels_follow_the_rule_and_are_balanced():
    assert ct.tile_label({"myeloblast": 2, "lymphocyte": 8}) == "abnormal"  # 20 % exactly
    assert ct.tile_label({"myeloblast": 1, "lymphocyte": 8}) == "normal"
    assert ct.tile_label({}) == "normal"
    drawn = [ct.make_tile(np.random.default_rng([4, i]), 96) for i in range(16)]
    for tile in drawn:
        share = tile.counts["myeloblast"] / len(tile.types)
        assert tile.label == ("abnormal" if share >= ct.ABNORMAL_SHARE else "normal")
    assert 4 <= sum(t.label == "abnormal" for t in drawn) <= 12
    for label in ct.LABELS:
        assert ct.make_tile(np.random.default_rng(1), 128, label).label == label


def test_make_tile_checks_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="size"):
        ct.make_tile(rng, 32)
    with pytest.raises(ValueError, match="label"):
        ct.make_tile(rng, 128, "leukaemia")
    with pytest.raises(ValueError, match="proportions"):
        ct.make_tile(rng, 128, proportions=[0.5, 0.5])
    with pytest.raises(ValueError, match="n_train"):
        cp.write_cells("unused", n_train=-1, n_val=1, n_test=1)
    with pytest.raises(ValueError, match="seed"):
        cp.write_tiles("unused", n_train=1, n_val=1, n_test=1, seed=-2)


def test_write_cells_is_seeded_and_loads(tmp_path):
    summaries = [cp.write_cells(tmp_path / k, seed=s, **SMALL_CELLS)
                 for k, s in (("a", 1), ("b", 1), ("c", 2))]  # fmt: skip
    first, same, other = (written_files(tmp_path / k) for k in "abc")
    assert first == same
    assert sum(first[k] != other.get(k) for k in first if k.endswith(".png")) > 40
    info = layout.read_dataset_info(tmp_path / "a")
    assert info.classes == cs.TYPES and info.source_stain == "HE"
    assert json.loads((tmp_path / "a" / "dataset.json").read_text())["generator"]["seed"] == 1
    patients = {}
    for split, n in zip(layout.SPLITS, SMALL_CELLS.values()):
        paths, labels, patients[split] = layout.list_labeled(tmp_path / "a", split, info.classes)
        assert len(paths) == n and len(set(labels.tolist())) == len(cs.TYPES)
        assert summaries[0]["counts"][split] == {
            t: int((labels == i).sum()) for i, t in enumerate(cs.TYPES)
        }
        assert np.asarray(Image.open(paths[0])).shape == (32, 32, 3)
    assert not set(patients["train"]) & (set(patients["val"]) | set(patients["test"]))


def test_write_tiles_writes_masks_and_counts(tmp_path):
    summary = cp.write_tiles(tmp_path / "a", seed=3, **SMALL_TILES)
    cp.write_tiles(tmp_path / "b", seed=3, **SMALL_TILES)
    assert written_files(tmp_path / "a") == written_files(tmp_path / "b")
    root = tmp_path / "a"
    info = layout.read_dataset_info(root)
    assert info.classes == ct.LABELS
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["cell_types"] == list(cs.TYPES) and meta["stain_matrix"][0] == [0.65, 0.7, 0.29]
    for split in layout.SPLITS:
        paths, labels, _ = layout.list_labeled(root, split, info.classes)
        with open(root / "counts" / f"{split}.csv") as f:
            rows = {r["file"]: r for r in csv.DictReader(f)}
        assert len(rows) == len(paths) == SMALL_TILES[f"n_{split}"]
        assert sorted(summary["counts"][split].values()) == [SMALL_TILES[f"n_{split}"] // 2] * 2
        for path, label in zip(paths, labels):
            name = str(path)[len(str(root / "labeled")) + 1 :]
            row = rows[name]
            mask = np.asarray(Image.open(root / "masks" / name))
            assert mask.dtype == np.uint16 and mask.shape == (96, 96)
            assert mask.max() == int(row["n_cells"]) == len(row["instance_types"].split(","))
            counts = {t: int(row[t]) for t in cs.TYPES}
            assert ct.tile_label(counts) == row["label"] == ct.LABELS[label]


def test_cli_writes_roots_and_preview(tmp_path):
    args = ["-m", "kerasg2c.phantoms.cells", f"--out={tmp_path}", "--seed=1",
            f"--preview={tmp_path / 'preview.png'}", "--tile_size=96", "--n_cells_train=10",
            "--n_cells_val=5", "--n_cells_test=5", "--n_tiles_train=2", "--n_tiles_val=2",
            "--n_tiles_test=2"]  # fmt: skip
    proc = run_python([*args, "--nuisance=1"], timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "cells" / "dataset.json").read_text())["generator"] == {
        "name": "kerasg2c.data.cell_phantoms.cells", "seed": 1, "size": 32, "nuisance": 1.0
    }  # fmt: skip
    preview = np.asarray(Image.open(tmp_path / "preview.png"))
    assert preview.ndim == 3 and preview.shape[0] > 5 * 64 + 2 * 96
    assert layout.read_dataset_info(tmp_path / "cells").classes == cs.TYPES
    assert layout.read_dataset_info(tmp_path / "tiles").classes == ct.LABELS
    proc = run_python([*args[:2], f"--out={tmp_path / 'bad'}", "--kinds=tiles", "--tile_size=10"])
    assert proc.returncode != 0 and "size must be" in proc.stderr
