"""QuPath GeoJSON, the whole-slide Ki-67 analysis on phantom slides, and slide batches."""

import csv
import json

import numpy as np
import pytest
from conftest import run_python
from PIL import Image
from scipy import optimize, spatial
from skimage import draw

from kerasg2c.pathology import ki67_slide
from kerasg2c.phantoms import ki67_slides
from kerasg2c.slides import geojson

SLIDE = {"height": 512, "width": 1280}


def _segments_cross(p, q, r, s):
    """Proper crossing of segments pq and rs (shared end points do not count)."""

    def side(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    return side(p, q, r) * side(p, q, s) < 0 and side(r, s, p) * side(r, s, q) < 0


def assert_valid_ring(points):
    """RFC 7946 §3.1.6: closed, >= 4 positions, counterclockwise; and simple."""
    assert len(points) >= 4 and points[0] == points[-1]
    assert geojson._signed_area(points) > 0
    edges = list(zip(points[:-1], points[1:]))
    for i, (p, q) in enumerate(edges):
        for r, s in edges[i + 2 :]:
            if (r, s) != edges[-1] or i:  # the last edge meets the first at the start
                assert not _segments_cross(p, q, r, s), (p, q, r, s)


@pytest.mark.parametrize("shape", ["disk", "ell", "diagonal"])
def test_ring_is_closed_counterclockwise_simple_and_keeps_the_area(shape):
    mask = np.zeros((40, 50), bool)
    if shape == "disk":
        mask[draw.disk((20, 25), 12)] = True
    elif shape == "ell":
        mask[5:35, 5:15] = mask[25:35, 5:45] = True
    else:  # two squares touching at a corner: the largest 4-connected blob is kept
        mask[5:15, 5:15] = mask[15:30, 15:30] = True
    points = geojson.ring(mask, tolerance=0)
    assert_valid_ring(points)
    largest = 15 * 15 if shape == "diagonal" else mask.sum()
    assert geojson._signed_area(points) == pytest.approx(largest, rel=0.05)
    assert_valid_ring(geojson.ring(mask))  # thinned by Douglas–Peucker, still valid


def test_ring_lands_in_level_0_pixels():
    mask = np.ones((4, 4), bool)  # pixels x 10..13, y 20..23 of level 1
    points = np.array(geojson.ring(mask, x=10, y=20, downsample=2.0, tolerance=0))
    assert points[:, 0].min() == 20 and points[:, 0].max() == 28  # pixel edges 10 and 14
    assert points[:, 1].min() == 40 and points[:, 1].max() == 48


def test_feature_carries_qupath_properties_and_refuses_unknown_types():
    one = geojson.feature(
        geojson.box(0, 0, 4, 2), "tile", geojson.TUMOR, {"p": 0.5, "nan": float("nan")}, "t1"
    )
    assert one["type"] == "Feature" and len(one["id"]) == 36
    assert one["properties"] == {
        "objectType": "tile",
        "name": "t1",
        "classification": {"name": "Tumor", "color": [200, 0, 0]},
        "measurements": {"p": 0.5},
    }
    assert_valid_ring(one["geometry"]["coordinates"][0])
    with pytest.raises(ValueError, match="objectType|object_type"):
        geojson.feature(geojson.box(0, 0, 1, 1), "nucleus")


def test_feature_writer_writes_whole_files_or_nothing(tmp_path):
    path = tmp_path / "a.geojson"
    with geojson.FeatureWriter(path) as out:
        for i in range(3):
            out.add(geojson.feature(geojson.box(i, 0, 1, 1), "detection"))
    assert len(json.loads(path.read_text())["features"]) == 3
    broken = tmp_path / "b.geojson"
    with pytest.raises(RuntimeError), geojson.FeatureWriter(broken) as out:
        out.add(geojson.feature(geojson.box(0, 0, 1, 1), "detection"))
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.geojson"]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A phantom Ki-67 slide analysed at level 1 (half resolution)."""
    root = tmp_path_factory.mktemp("ki67_slide")
    truth = ki67_slides.write_slide(root / "slide", seed=3, **SLIDE)
    (root / "out").mkdir()
    summary = ki67_slide.analyse(root / "slide" / "KI67.tif", root / "out", level=1)
    return root, truth, summary


def test_phantom_slide_truth_is_consistent(analysed):
    root, truth, _ = analysed
    nuclei = ki67_slides.read_nuclei(root / "slide")
    assert len(nuclei["x"]) == truth["nuclei"] > 100
    tumour, normal = (truth["islands"][k]["index"] for k in ("tumour", "normal"))
    assert tumour > 0.25 > 0.2 > normal  # the two islands differ as the twins say
    assert np.all((nuclei["x"] > 0) & (nuclei["x"] < SLIDE["width"]))


def test_level_1_detections_land_on_the_true_nuclei_in_level_0(analysed):
    root, truth, summary = analysed
    nuclei = ki67_slides.read_nuclei(root / "slide")
    with open(root / "out" / "ki67_nuclei.csv", newline="") as f:
        found = list(csv.DictReader(f))
    found_xy = np.array([[float(r["x"]), float(r["y"])] for r in found])
    true_xy = np.stack([nuclei["x"], nuclei["y"]], 1)
    cost = spatial.distance.cdist(found_xy, true_xy)
    rows, cols = optimize.linear_sum_assignment(cost)
    matched = cost[rows, cols] <= 6.0  # level-0 pixels; a nucleus is >= 8 px across
    precision, recall = matched.sum() / len(found_xy), matched.sum() / len(true_xy)
    f_score = 2 * precision * recall / (precision + recall)
    assert f_score >= 0.95, (precision, recall)
    assert np.median(cost[rows, cols][matched]) < 2.0
    # Positive calls agree with the truth on the matched nuclei.
    said = np.array([int(found[i]["positive"]) for i in rows[matched]])
    assert (said == nuclei["positive"][cols[matched]]).mean() >= 0.95
    assert summary["index"] == pytest.approx(truth["index"], abs=0.02)
    by_island = {r["region"]: r["index"] for r in summary["regions"]}
    assert len(by_island) == 2  # one tissue region per island, the left one first
    assert by_island[1] == pytest.approx(truth["islands"]["tumour"]["index"], abs=0.03)
    assert by_island[2] == pytest.approx(truth["islands"]["normal"]["index"], abs=0.03)


def test_geojson_follows_qupath_conventions(analysed):
    root, _, summary = analysed
    features = json.loads((root / "out" / "ki67.geojson").read_text())["features"]
    detections = [f for f in features if f["properties"]["objectType"] == "detection"]
    annotations = [f for f in features if f["properties"]["objectType"] == "annotation"]
    assert len(detections) == summary["nuclei"] and len(annotations) == 2
    shown = np.asarray(Image.open(root / "out" / "ki67_preview.png"))
    assert (np.abs(shown.astype(int) - (200, 50, 50)).sum(-1) == 0).sum() > 50  # red dots
    classes = {json.dumps(f["properties"]["classification"]) for f in detections}
    assert classes == {
        json.dumps({"name": "Positive", "color": [200, 50, 50]}),
        json.dumps({"name": "Negative", "color": [90, 90, 180]}),
    }
    for f in detections:
        dab = f["properties"]["measurements"]["Nucleus: DAB OD mean"]
        assert (f["properties"]["classification"]["name"] == "Positive") == (dab >= 0.2)
        assert_valid_ring(f["geometry"]["coordinates"][0])
    counts = annotations[0]["properties"]["measurements"]
    assert counts["Num Positive"] + counts["Num Negative"] == counts["Num Detections"]
    assert counts["Positive %"] == pytest.approx(100 * summary["regions"][0]["index"], abs=0.01)


def test_manifest_in_two_shards_with_an_unreadable_slide(tmp_path):
    for name, seed in (("s1", 1), ("s2", 2)):
        ki67_slides.write_slide(tmp_path / name, seed=seed, **SLIDE)
        (tmp_path / name / "KI67.tif").rename(tmp_path / name / f"{name}.tif")
    (tmp_path / "bad.tif").write_text("not a slide")
    manifest = tmp_path / "slides.csv"
    manifest.write_text("slide,label\ns1/s1.tif,a\nbad.tif,a\ns2/s2.tif,b\n")
    out = tmp_path / "out"
    run = ["-m", "kerasg2c.tools.slide_ki67", f"--manifest={manifest}", f"--out={out}"]
    first = run_python([*run, "--level=1", "--shard_index=0", "--num_shards=2"])
    second = run_python([*run, "--level=1", "--shard_index=1", "--num_shards=2"])
    assert first.returncode == 0, first.stderr  # s1 and s2
    assert second.returncode == 1 and "failures-ki67-1-of-2.csv" in second.stderr  # bad
    with open(out / "failures-ki67-1-of-2.csv", newline="") as f:
        assert [r["slide"] for r in csv.DictReader(f)] == [str(tmp_path / "bad.tif")]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["s1", "s2"]
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("s*/*")}
    again = run_python([*run, "--level=1", "--shard_index=0", "--num_shards=2"])
    assert again.returncode == 0 and "finished before" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in out.glob("s*/*")} == stamps  # nothing recomputed
    merged = run_python(["-m", "kerasg2c.tools.slide_merge", f"--out={out}"])
    assert merged.returncode == 0, merged.stderr
    with open(out / "ki67_slides.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [(r["label"], int(r["nuclei"]) > 100) for r in table] == [("a", True), ("b", True)]
    assert (out / "ki67_slides.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "content, flags, message",
    [
        ("path\nx.tif\n", [], "no 'slide' column"),
        ("slide\nx.tif\n", ["--slide=y.tif"], "exactly one of --slide and --manifest"),
        ("slide\na/x.tif\nb/x.tif\n", [], "share the output folder"),
        ("slide\nx.tif\n", ["--shard_index=2", "--num_shards=2"], "--shard_index 2"),
    ],
)
def test_bad_manifests_and_flags_exit_2_naming_them(tmp_path, content, flags, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    done = run_python(
        ["-m", "kerasg2c.tools.slide_ki67", f"--manifest={manifest}", f"--out={tmp_path}/o", *flags]
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
