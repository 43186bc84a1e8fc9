"""Nuclei of a whole phantom H&E slide by category: found where the truth puts them, at
level 0 and level 1, written for QuPath, run from the CLI with an InfoWGAN-GP model."""

import csv
import json

import numpy as np
import pytest
from conftest import run_python
from scipy import optimize, spatial

from kerasg2c.pathology import cell_slide
from kerasg2c.phantoms import cell_slides

SLIDE = {"height": 512, "width": 1024}  # 2 x 4 cells: two normal columns, two blast-rich


def darkness_categories(crops):
    """Q(c | x) of a fixed rule: three categories by the crop's mean brightness."""
    m = crops.mean(axis=(1, 2, 3))
    return np.stack([m < 0.6, (m >= 0.6) & (m < 0.75), m >= 0.75], 1).astype(np.float32)


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    root = tmp_path_factory.mktemp("cell_slide")
    truth = cell_slides.write_slide(root / "slide", seed=4, **SLIDE)
    return root, truth


def f_score(found_csv, truth_folder):
    with open(found_csv, newline="") as f:
        found = list(csv.DictReader(f))
    nuclei = cell_slides.read_nuclei(truth_folder)
    cost = spatial.distance.cdist(
        [[float(r["x"]), float(r["y"])] for r in found], np.stack([nuclei["x"], nuclei["y"]], 1)
    )
    rows, cols = optimize.linear_sum_assignment(cost)
    matched = (cost[rows, cols] <= 6.0).sum()
    precision, recall = matched / len(found), matched / len(nuclei["x"])
    return 2 * precision * recall / (precision + recall), found


def test_phantom_halves_differ_in_blasts(slide):
    root, truth = slide
    nuclei = cell_slides.read_nuclei(root / "slide")
    assert len(nuclei["x"]) == truth["nuclei"] > 150
    left = [t for x, t in zip(nuclei["x"], nuclei["type"]) if x < SLIDE["width"] / 2]
    right = [t for x, t in zip(nuclei["x"], nuclei["type"]) if x >= SLIDE["width"] / 2]
    assert right.count("myeloblast") / len(right) > 0.2 > left.count("myeloblast") / len(left)


@pytest.mark.parametrize("level", [0, 1])
def test_nuclei_land_on_the_true_ones_and_proportions_add_up(slide, level):
    root, _ = slide
    out = root / f"level{level}"
    out.mkdir()
    summary = cell_slide.analyse(
        root / "slide" / "HE.tif",
        out,
        categorise=darkness_categories,
        categories=3,
        image_size=32,
        level=level,
    )
    score, found = f_score(out / "cells_nuclei.csv", root / "slide")
    assert (out / "cells_preview.png").stat().st_size > 1000
    assert score >= 0.95
    counts = np.bincount([int(r["category"]) for r in found], minlength=3)
    assert summary["nuclei"] == len(found)
    np.testing.assert_allclose(summary["proportions"], counts / counts.sum(), atol=1e-4)
    features = json.loads((out / "cells.geojson").read_text())["features"]
    detections = [f for f in features if f["properties"]["objectType"] == "detection"]
    names = [f["properties"]["classification"]["name"] for f in detections]
    assert names == [f"Cluster {r['category']}" for r in found]  # same nuclei, same order
    assert detections[0]["properties"]["classification"]["color"] == list(
        cell_slide.category_class(int(found[0]["category"]))[1]
    )
    regions = [f for f in features if f["properties"]["objectType"] == "annotation"]
    assert len(regions) == len(summary["regions"]) >= 1
    shares = regions[0]["properties"]["measurements"]
    assert sum(shares.get(f"Cluster {c} %", 0) for c in range(3)) == pytest.approx(100, abs=0.1)


def test_slide_cells_cli_with_an_infowgan_model(slide, tmp_path):
    import keras
    import tensorflow as tf

    from kerasg2c.models.infowgan import InfoWGANGP

    root, _ = slide
    run = tmp_path / "infogan"
    run.mkdir()
    model = InfoWGANGP(categories=3, channels=8, image_size=32)
    model(tf.zeros((1, 32, 32, 3)))
    model.save(run / "model.keras")
    keras.backend.clear_session()
    tool = ["-m", "kerasg2c.tools.slide_cells", f"--slide={root / 'slide' / 'HE.tif'}"]
    missing = run_python([*tool, f"--out={tmp_path}/o", f"--infogan_run={tmp_path}/none"])
    assert missing.returncode == 2 and "model.keras" in missing.stderr
    done = run_python([*tool, f"--out={tmp_path}/o", f"--infogan_run={run}"])
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "o" / "HE" / "cells.json").read_text())
    assert summary["categories"] == 3 and summary["nuclei"] > 150
    merged = run_python(["-m", "kerasg2c.tools.slide_merge", f"--out={tmp_path}/o",
                         "--analysis=cells"])  # fmt: skip
    assert merged.returncode == 0, merged.stderr
    header = (tmp_path / "o" / "cells_slides.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["slide", "label", "nuclei", "proportions_0", "proportions_1",
                          "proportions_2"]  # fmt: skip
    assert (tmp_path / "o" / "cells_slides.png").stat().st_size > 1000
