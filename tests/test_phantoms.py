"""The glomerulus phantoms' DATA_ROOT (kerasg2c.phantoms.glomeruli): seeded, its layout and
dataset.json, patients apart across splits, class frequencies, paired files of the same
tissue (at any difficulty), the CLI. How they look: test_phantoms_appearance.py."""

import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from phantom_checks import dark_nuclei, iou, written_files
from PIL import Image

from kerasg2c.phantoms import glomeruli
from kerasg2c.phantoms import glomerulus_layout as gl

REPO = pathlib.Path(__file__).resolve().parents[1]
SMALL = {"n_train": 12, "n_val": 6, "n_test": 6, "n_reference": 3, "size": 32}
OTHER_STAINS = [s for s in glomeruli.STAINS if s != glomeruli.SOURCE_STAIN]


def _pngs(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def _read(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms")
    return root, glomeruli.write_dataset(root, seed=3, **SMALL)


def test_write_dataset_is_deterministic_for_a_seed(dataset, tmp_path):
    root, _ = dataset
    glomeruli.write_dataset(tmp_path / "same", seed=3, **SMALL)
    glomeruli.write_dataset(tmp_path / "other", seed=4, **SMALL)
    first, same, other = (written_files(p) for p in (root, tmp_path / "same", tmp_path / "other"))
    assert first == same
    pngs = [k for k in first if k.endswith(".png")]
    assert sum(first[k] != other.get(k) for k in pngs) > 0.9 * len(pngs)


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
        return np.stack([dark_nuclei(_read(folder / name)) for name in _pngs(folder)])

    assert iou(nuclei(root / "labeled"), nuclei(root / "paired" / "HE")) > 0.8
    assert iou(nuclei(root / "reference" / "PAS"), nuclei(root / "reference" / "HE")) < 0.4


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


def test_difficulty_zero_is_byte_identical_to_the_default(dataset, tmp_path):
    root, _ = dataset
    glomeruli.write_dataset(tmp_path / "zero", seed=3, difficulty=0.0, **SMALL)
    assert written_files(tmp_path / "zero") == written_files(root)
    default = gl.make_layout(np.random.default_rng(7), 48, "gs")
    zero = gl.make_layout(np.random.default_rng(7), 48, "gs", difficulty=0.0)
    for name in ("matrix", "cytoplasm", "chromatin", "membrane", "sclerosis", "loops"):
        np.testing.assert_array_equal(getattr(default, name), getattr(zero, name))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="difficulty"):
            gl.make_layout(np.random.default_rng(0), 48, "ss", difficulty=bad)


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
    assert iou(nuclei(out / "labeled"), nuclei(out / "paired" / "HE")) > 0.7
    assert iou(nuclei(out / "reference" / "PAS"), nuclei(out / "reference" / "HE")) < 0.4
