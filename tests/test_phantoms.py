"""Tests for kerasg2c.phantoms.glomeruli and glomerulus_layout: layouts, Beer–Lambert
rendering, DATA_ROOT, CLI."""

import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from kerasg2c.phantoms import glomeruli
from kerasg2c.phantoms import glomerulus_layout as gl

REPO = pathlib.Path(__file__).resolve().parents[1]
SMALL = {"n_train": 12, "n_val": 6, "n_test": 6, "n_reference": 3, "size": 32}
OTHER_STAINS = [s for s in glomeruli.STAINS if s != glomeruli.SOURCE_STAIN]


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _pngs(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def _read(path):
    return np.asarray(Image.open(path))


def _dark_nuclei(image):
    """Haematoxylin-like nuclei absorb red strongly; PAS/H&E matrix and cytoplasm do not."""
    return image[..., 0] < 155


def _solid_matrix(image):
    """Fraction of a PAS image in solid (morphologically opened) magenta matrix."""
    magenta = (image[..., 0] >= 155) & (image[..., 1] < 120)
    return ndimage.binary_opening(magenta).mean()


def _iou(a, b):
    return (a & b).sum() / max(1, (a | b).sum())


def _layouts(seed, n, size, label=None):
    rngs = [np.random.default_rng([seed, i]) for i in range(n)]
    labels = [label or gl.CLASSES[i % 3] for i in range(n)]
    return [(gl.make_layout(r, size, lab), r) for r, lab in zip(rngs, labels)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms")
    return root, glomeruli.write_dataset(root, seed=3, **SMALL)


def test_write_dataset_is_deterministic_for_a_seed(dataset, tmp_path):
    root, _ = dataset
    glomeruli.write_dataset(tmp_path / "same", seed=3, **SMALL)
    glomeruli.write_dataset(tmp_path / "other", seed=4, **SMALL)
    first, same, other = _files(root), _files(tmp_path / "same"), _files(tmp_path / "other")
    assert first == same
    pngs = [k for k in first if k.endswith(".png")]
    assert sum(first[k] != other.get(k) for k in pngs) > 0.9 * len(pngs)


def test_render_and_layout_are_deterministic():
    layout_a = gl.make_layout(np.random.default_rng(7), 48, "ss")
    layout_b = gl.make_layout(np.random.default_rng(7), 48, "ss")
    np.testing.assert_array_equal(layout_a.matrix, layout_b.matrix)
    image_a = glomeruli.render(layout_a, "MASSON", np.random.default_rng(1))
    image_b = glomeruli.render(layout_b, "MASSON", np.random.default_rng(1))
    np.testing.assert_array_equal(image_a, image_b)
    assert image_a.dtype == np.uint8 and image_a.shape == (48, 48, 3)
    with pytest.raises(ValueError, match="label"):
        gl.make_layout(np.random.default_rng(0), 48, "fsgs")
    with pytest.raises(ValueError, match="stain"):
        glomeruli.render(layout_a, "IHC", np.random.default_rng(0))


def test_dataset_json(dataset):
    root, _ = dataset
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["source_stain"] == "PAS"
    assert meta["stains"] == ["PAS", "HE", "MASSON", "PASM"]
    assert meta["classes"] == ["noa", "ss", "gs"]
    assert meta["tasks"] == {
        "s_vs_noa": {"s": ["ss", "gs"], "noa": ["noa"]},
        "ss_vs_gs": {"ss": ["ss"], "gs": ["gs"]},
    }
    assert meta["generator"] == {"name": "kerasg2c.data.phantoms", "seed": 3, "size": 32}


def test_write_dataset_layout(dataset):
    root, summary = dataset
    labeled = _pngs(root / "labeled")
    pattern = re.compile(r"^(train|val|test)/(noa|ss|gs)/p\d{4}__[^_/]+\.png$")
    assert labeled and all(pattern.match(f) for f in labeled)
    for split in ("train", "val", "test"):
        counts = {c: len(_pngs(root / "labeled" / split / c)) for c in gl.CLASSES}
        expected = glomeruli._class_counts(SMALL[f"n_{split}"])
        assert counts == summary["counts"][split] == expected
    for stain in OTHER_STAINS:
        assert _pngs(root / "paired" / stain) == labeled
    assert not (root / "paired" / "PAS").exists()
    for stain in glomeruli.STAINS:
        assert len(_pngs(root / "reference" / stain)) == SMALL["n_reference"]
    assert {p.name for p in root.iterdir()} == {"dataset.json", "labeled", "paired", "reference"}
    image = Image.open(next((root / "labeled").rglob("*.png")))
    assert image.mode == "RGB" and image.size == (32, 32)


def test_patients_are_disjoint_across_splits(dataset):
    root, summary = dataset
    patients = {}
    for split in ("train", "val", "test"):
        names = [p.name for p in (root / "labeled" / split).rglob("*.png")]
        patients[split] = {n.split("__")[0] for n in names}
        assert len(patients[split]) == summary["patients"][split]
        assert len(patients[split]) < len(names)  # several patches per patient
    assert not patients["train"] & patients["val"]
    assert not patients["train"] & patients["test"]
    assert not patients["val"] & patients["test"]


def test_class_counts_follow_frequencies():
    assert glomeruli._class_counts(300) == {"noa": 180, "ss": 45, "gs": 75}
    assert glomeruli._class_counts(3) == {"noa": 1, "ss": 1, "gs": 1}
    for n in (4, 5, 7, 11, 61):
        counts = glomeruli._class_counts(n)
        assert sum(counts.values()) == n and min(counts.values()) >= 1
        assert counts["noa"] >= counts["gs"] >= counts["ss"]
    assert abs(glomeruli._class_counts(1000)["ss"] - 150) <= 1


def test_paired_files_show_the_same_tissue_and_reference_does_not(dataset):
    root, _ = dataset

    def nuclei(folder):
        return np.stack([_dark_nuclei(_read(folder / name)) for name in _pngs(folder)])

    assert _iou(nuclei(root / "labeled"), nuclei(root / "paired" / "HE")) > 0.8
    assert _iou(nuclei(root / "reference" / "PAS"), nuclei(root / "reference" / "HE")) < 0.4


def test_one_layout_gives_aligned_structures_in_every_stain():
    pas, he, truth = [], [], []
    for layout, rng in _layouts(11, 24, 48):
        pas.append(_dark_nuclei(glomeruli.render(layout, "PAS", rng)))
        he.append(_dark_nuclei(glomeruli.render(layout, "HE", rng)))
        truth.append(layout.nuclei)
    pas, he, truth = np.stack(pas), np.stack(he), np.stack(truth)
    assert _iou(pas, he) > 0.85
    assert _iou(pas, truth) > 0.85 and _iou(he, truth) > 0.85


def _regions(lay):
    return {
        "matrix": (lay.matrix > 0.6) & ~lay.nuclei,
        "cytoplasm": (lay.cytoplasm > 0.3) & (lay.matrix < 0.2) & ~lay.nuclei,
        "lumen": lay.lumen,
    }


def test_stains_have_their_colours():
    layouts = _layouts(5, 6, 64, label="gs")

    def mean_colour(stain, region):
        colours = [glomeruli.render(lay, stain, rng)[_regions(lay)[region]] for lay, rng in layouts]
        return np.mean([c.mean(0) for c in colours], axis=0)

    r, g, b = mean_colour("PAS", "matrix")
    assert r > g + 60 and b > g + 40  # magenta
    r, g, b = mean_colour("MASSON", "matrix")
    assert b > r + 60  # blue collagen
    r, g, b = mean_colour("MASSON", "cytoplasm")
    assert r > b + 40 and r > g + 60  # red cytoplasm
    r, g, b = mean_colour("HE", "cytoplasm")
    assert r > g + 40 and r > b  # pink eosin
    assert mean_colour("PASM", "matrix").mean() < 90  # black membranes/matrix
    assert mean_colour("PASM", "lumen").mean() > 200  # on a pale slide


def test_classes_are_separable_from_the_pas_image():
    def features(seed):
        layouts = _layouts(seed, 60, 48)
        x = [_solid_matrix(glomeruli.render(lay, "PAS", rng)) for lay, rng in layouts]
        return np.array(x), np.array([gl.CLASSES.index(lay.label) for lay, _ in layouts])

    x_fit, y_fit = features(1)
    x_new, y_new = features(2)
    centroids = np.array([x_fit[y_fit == c].mean() for c in range(3)])
    predicted = np.abs(x_new[:, None] - centroids[None]).argmin(1)
    assert (predicted == y_new).mean() > 0.8  # nearest centroid on the solid-matrix fraction


def test_classes_differ_in_morphology():
    by_class = {c: [lay for lay, _ in _layouts(3, 8, 48, label=c)] for c in gl.CLASSES}
    loops = {c: np.mean([lay.loops.mean() for lay in v]) for c, v in by_class.items()}
    assert loops["noa"] > loops["ss"] > loops["gs"]
    sclerosed = {c: np.mean([lay.sclerosis.mean() for lay in v]) for c, v in by_class.items()}
    assert sclerosed["noa"] == 0 < sclerosed["ss"] < sclerosed["gs"]

    def density(lay, region):  # nuclear area per pixel of the region
        return (lay.nuclei & region).sum() / max(1, region.sum())

    noa = np.mean([density(lay, lay.tuft) for lay in by_class["noa"]])
    assert np.mean([density(lay, lay.tuft) for lay in by_class["gs"]]) < 0.5 * noa
    ss = by_class["ss"]
    in_sector = np.mean([density(lay, lay.sclerosis > 0.5) for lay in ss])
    elsewhere = np.mean([density(lay, lay.tuft & (lay.sclerosis == 0)) for lay in ss])
    assert in_sector < 0.6 * elsewhere


def test_cli_writes_a_data_root(tmp_path):
    out, preview = tmp_path / "root", tmp_path / "preview.png"
    sizes = ["--n_train=6", "--n_val=3", "--n_test=3", "--n_reference=2", "--size=32", "--seed=1"]
    command = [sys.executable, "-m", glomeruli.__name__, f"--out={out}", f"--preview={preview}"]
    command += sizes
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "dataset.json").read_text())["generator"]["seed"] == 1
    assert len(list((out / "labeled").rglob("*.png"))) == 12
    assert len(list((out / "paired").rglob("*.png"))) == 12 * len(OTHER_STAINS)
    assert len(list((out / "reference").rglob("*.png"))) == 2 * len(glomeruli.STAINS)
    grid = _read(preview)
    scale = 192 // 32
    assert grid.shape == (3 * 36 * scale, 4 * 36 * scale, 3)


def _nearest_centroid_accuracy(difficulty):
    """Nearest-centroid accuracy (3 classes, chance 1/3) on the PAS solid-matrix fraction."""

    def features(seed):
        x, y = [], []
        for i in range(60):
            rng = np.random.default_rng([seed, i])
            layout = gl.make_layout(rng, 48, gl.CLASSES[i % 3], difficulty)
            x.append(_solid_matrix(glomeruli.render(layout, "PAS", rng)))
            y.append(i % 3)
        return np.array(x), np.array(y)

    x_fit, y_fit = features(1)
    x_new, y_new = features(2)
    centroids = np.array([x_fit[y_fit == c].mean() for c in range(3)])
    return (np.abs(x_new[:, None] - centroids[None]).argmin(1) == y_new).mean()


def test_difficulty_zero_is_byte_identical_to_the_default(dataset, tmp_path):
    root, _ = dataset
    glomeruli.write_dataset(tmp_path / "zero", seed=3, difficulty=0.0, **SMALL)
    assert _files(tmp_path / "zero") == _files(root)
    default = gl.make_layout(np.random.default_rng(7), 48, "gs")
    zero = gl.make_layout(np.random.default_rng(7), 48, "gs", difficulty=0.0)
    for name in ("matrix", "cytoplasm", "chromatin", "membrane", "sclerosis", "loops"):
        np.testing.assert_array_equal(getattr(default, name), getattr(zero, name))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="difficulty"):
            gl.make_layout(np.random.default_rng(0), 48, "ss", difficulty=bad)


def test_difficulty_makes_the_classes_overlap_on_pas():
    # Measured: 0.98 at difficulty 0, 0.80 at 0.5, 0.33 (chance) at 1.
    easy, medium, hard = (_nearest_centroid_accuracy(d) for d in (0.0, 0.5, 1.0))
    assert easy > 0.8
    assert 0.5 < medium < easy
    assert hard < easy - 0.3


def test_difficulty_softens_the_morphology():
    def mean(label, difficulty, measure):
        rngs = [np.random.default_rng([4, i]) for i in range(8)]
        return np.mean([measure(gl.make_layout(r, 48, label, difficulty)) for r in rngs])

    for label, measure, grows in [
        ("ss", lambda lay: lay.sclerosis.mean(), False),  # a smaller, fainter segment
        ("gs", lambda lay: lay.loops.mean(), True),  # open loops survive
        ("gs", lambda lay: lay.nuclei[lay.tuft].mean(), True),  # and nuclei
        ("gs", lambda lay: (~lay.tuft & lay.lumen).mean(), False),  # narrower Bowman's space
        ("noa", lambda lay: lay.matrix[lay.tuft].mean(), True),  # mesangial expansion
    ]:
        easy, hard = mean(label, 0.0, measure), mean(label, 1.0, measure)
        assert (hard > easy) if grows else (hard < easy), (label, easy, hard)


def test_masson_shows_faint_sclerosis_better_than_pas():
    def contrast(stain, difficulty):  # sclerotic sector vs cellular tuft, RGB distance
        out = []
        for i in range(6):
            layout = gl.make_layout(np.random.default_rng([5, i]), 64, "ss", difficulty)
            image = glomeruli.render(layout, stain, np.random.default_rng(i)).astype(float)
            tissue = ~layout.nuclei & ~layout.lumen
            sector = (layout.sclerosis > 0.3) & tissue
            cells = layout.tuft & (layout.sclerosis == 0) & tissue & (layout.membrane < 0.1)
            out.append(np.linalg.norm(image[sector].mean(0) - image[cells].mean(0)))
        return np.mean(out)

    assert contrast("PAS", 1.0) < 0.5 * contrast("PAS", 0.0)
    assert contrast("MASSON", 1.0) > 2 * contrast("PAS", 1.0)


def test_paired_files_stay_aligned_at_full_difficulty(tmp_path):
    out = tmp_path / "hard"
    sizes = ["--n_train=12", "--n_val=6", "--n_test=6", "--n_reference=6", "--size=32"]
    command = [sys.executable, "-m", glomeruli.__name__, f"--out={out}", "--difficulty=1"]
    result = subprocess.run(command + sizes, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "dataset.json").read_text())["generator"]["difficulty"] == 1.0

    def nuclei(folder):  # a looser threshold: nuclei are blurred and paler at difficulty 1
        return np.stack([_read(folder / name)[..., 0] < 170 for name in _pngs(folder)])

    labeled = _pngs(out / "labeled")
    for stain in OTHER_STAINS:
        assert _pngs(out / "paired" / stain) == labeled
    assert _iou(nuclei(out / "labeled"), nuclei(out / "paired" / "HE")) > 0.7
    assert _iou(nuclei(out / "reference" / "PAS"), nuclei(out / "reference" / "HE")) < 0.4
