"""Top-1 MIL over a whole phantom slide: instance scores in place, QuPath tiles, heat map.

The classifier here is a fixed Keras model (no training), so the test checks where the
scores land rather than how well a model learns: its tumour probability rises with the
share of dark pixels, which separates the phantom's tumour instances (AUC ~0.99)."""

import json

import keras
import numpy as np
import pytest
from conftest import run_python
from matplotlib import colormaps
from PIL import Image
from sklearn.metrics import roc_auc_score

from kerasg2c.mil import slide_scores
from kerasg2c.phantoms import mil_slides
from kerasg2c.slides import reader

SLIDE = {"height": 768, "width": 1024}


def dark_share_model() -> keras.Model:
    """p(tumour) = sigmoid(20 (share of pixels with mean < 0.45 − 0.05)), standard layers."""
    inputs = keras.Input((None, None, 3))
    dark = keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs)
    share = keras.layers.GlobalAveragePooling2D()(dark)
    logits = keras.layers.Dense(2)(share)
    model = keras.Model(inputs, logits)
    model.layers[1].set_weights([np.full((1, 1, 3, 1), -100 / 3), np.array([45.0])])
    model.layers[3].set_weights([np.array([[0.0, 20.0]]), np.array([0.0, -1.0])])
    return model


@pytest.fixture(scope="module")
def run_and_slide(tmp_path_factory):
    root = tmp_path_factory.mktemp("mil_slide")
    truth = mil_slides.write_slide(root / "slide", seed=2, **SLIDE)
    run = root / "run"
    run.mkdir()
    dark_share_model().save(run / "model.keras")
    (run / "report.json").write_text(json.dumps({"trainer": "mil", "instance_size": 32}))
    return root, run, truth


def test_slide_scores_are_the_models_scores_on_the_true_instances(run_and_slide):
    root, run, truth = run_and_slide
    score_blocks, size, block = slide_scores.load_run(run)
    model = keras.saving.load_model(run / "model.keras")
    out = root / "level0"
    out.mkdir()
    summary = slide_scores.analyse(
        root / "slide" / "HE.tif",
        out,
        score_blocks=score_blocks,
        instance_size=size,
        block=block,
        min_tissue=0.5,
    )
    scores = np.load(out / "mil_scores.npy")
    labels = np.array(Image.open(root / "slide" / "instances.png"))
    assert scores.shape == labels.shape
    tissue = labels > 0
    assert np.isfinite(scores[tissue]).mean() > 0.95 and np.isnan(scores[~tissue]).mean() > 0.95
    # Each slide score is the model's score on the instance the truth grid places there.
    with reader.open_slide(root / "slide" / "HE.tif") as slide:
        image = slide.read_region(0, 0, 0, SLIDE["width"], SLIDE["height"]) / np.float32(255)
    r, c = np.argwhere(np.isfinite(scores))[:: len(scores) // 5].T
    crops = np.stack([image[i * 32 : i * 32 + 32, j * 32 : j * 32 + 32] for i, j in zip(r, c)])
    direct = keras.ops.softmax(model(crops)).numpy()[:, 1]
    np.testing.assert_allclose(scores[r, c], direct, atol=1e-5)
    scored = np.isfinite(scores) & tissue
    auc = roc_auc_score(labels[scored] == 255, scores[scored])
    assert auc > 0.95 and truth["tumour_instances"] > 5
    assert summary["slide_score"] == pytest.approx(np.nanmax(scores), abs=1e-4)
    assert summary["instances"] == np.isfinite(scores).sum()
    shown = np.asarray(Image.open(out / "mil_preview.png"))
    with reader.open_slide(root / "slide" / "HE.tif") as slide:
        assert shown.shape == slide.thumbnail(1024).shape


def test_geojson_tiles_and_heatmap_sit_on_level_0(run_and_slide):
    root, run, _ = run_and_slide
    half = root / "run16"  # the same model, its instances 16 pixels of level 1
    half.mkdir()
    dark_share_model().save(half / "model.keras")
    (half / "report.json").write_text(json.dumps({"trainer": "mil", "instance_size": 16}))
    score_blocks, size, block = slide_scores.load_run(half)
    assert (size, block) == (16, 128)
    out = root / "level1"
    out.mkdir()
    # At level 1 a 16-pixel instance covers the same 32 level-0 pixels.
    slide_scores.analyse(
        root / "slide" / "HE.tif",
        out,
        score_blocks=score_blocks,
        instance_size=16,
        block=128,
        level=1,
    )
    scores = np.load(out / "mil_scores.npy")
    features = json.loads((out / "mil.geojson").read_text())["features"]
    assert len(features) == np.isfinite(scores).sum()
    for f in features[:: max(1, len(features) // 20)]:
        (x0, y0), (x1, y1) = (
            np.min(f["geometry"]["coordinates"][0], 0),
            np.max(f["geometry"]["coordinates"][0], 0),
        )
        assert (x1 - x0, y1 - y0) == (32, 32) and x0 % 32 == 0 and y0 % 32 == 0
        p = f["properties"]["measurements"]["Tumour probability"]
        assert p == pytest.approx(scores[int(y0) // 32, int(x0) // 32], abs=1e-4)
        assert f["properties"]["objectType"] == "tile"
        assert ("classification" in f["properties"]) == (p >= 0.5)
    with reader.open_slide(out / "mil_heatmap.tif") as heat:
        assert heat.level_dimensions[0] == (SLIDE["width"], SLIDE["height"])
        i, j = np.unravel_index(np.nanargmax(scores), scores.shape)
        pixel = heat.read_region(0, j * 32 + 16, i * 32 + 16, 1, 1)[0, 0]
    expected = np.round(np.array(colormaps["magma"](scores[i, j])[:3]) * 255)
    np.testing.assert_array_equal(pixel, expected)


def test_slide_mil_cli_refuses_a_missing_run_and_merges(run_and_slide, tmp_path):
    root, run, _ = run_and_slide
    slide = root / "slide" / "HE.tif"
    tool = ["-m", "kerasg2c.tools.slide_mil", f"--slide={slide}", f"--out={tmp_path}/o"]
    missing = run_python([*tool, f"--run={tmp_path}/none"])
    assert missing.returncode == 2 and "model.keras" in missing.stderr
    done = run_python([*tool, f"--run={run}"])
    assert done.returncode == 0, done.stderr
    merged = run_python(["-m", "kerasg2c.tools.slide_merge", f"--out={tmp_path}/o",
                         "--analysis=mil"])  # fmt: skip
    assert merged.returncode == 0, merged.stderr
    table = (tmp_path / "o" / "mil_slides.csv").read_text().splitlines()
    assert table[0].startswith("slide,label,slide_score") and len(table) == 2
