"""The Ki-67 index (`pathology/ki67.py`) and the H&E / Ki-67 twin phantoms (`ihc_phantoms`)."""

import csv
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from skimage import data as skdata

from kerasg2c.data import layout
from kerasg2c.pathology import ki67, stain
from kerasg2c.phantoms import cells, ihc


def _twins(n, seed=3):
    return [ihc.make_twin(cells._rng(seed, i), 256, ihc.CLASSES[i % 2]) for i in range(n)]


@pytest.fixture(scope="module")
def twins():
    return _twins(10)


def test_index_recovers_the_phantoms_positive_fractions(twins):
    # Measured over these 10 twins (5 per class, 25–42 nuclei each): every count exact,
    # error 0. The bound leaves room for one or two miscounted nuclei per image.
    errors = []
    for twin in twins:
        result = ki67.ki67_index(twin.ki67)
        assert abs(result.total - len(twin.positive)) <= 0.05 * len(twin.positive)
        errors.append(abs(result.index - twin.index))
    assert np.mean(errors) <= 0.02
    assert np.max(errors) <= 0.05
    tumour = [t.index for t in twins if t.label == "tumour"]
    normal = [t.index for t in twins if t.label == "normal"]
    assert min(tumour) > max(normal)


def _disc_image(centres_and_stains, size=128, radius=9):
    """White image with discs of the given (H, DAB) natural-log OD amounts."""
    yy, xx = np.mgrid[0:size, 0:size]
    amounts = np.zeros((size, size, 2))
    for (cy, cx), hd in centres_and_stains:
        amounts[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = hd
    od = amounts @ stain.RUIFROK_HDAB
    return np.clip(np.rint(255 * np.exp(-od)), 0, 255).astype(np.uint8)


def test_hand_built_discs_give_the_exact_counts():
    brown, blue = (0.3, 1.2), (1.2, 0.0)
    centres = [(20, 20), (20, 60), (20, 100), (64, 40), (64, 90), (105, 25), (105, 70)]
    kinds = [brown, blue, blue, brown, blue, brown, blue]
    result = ki67.ki67_index(_disc_image(list(zip(centres, kinds))))
    assert (result.positive, result.total) == (3, 7)
    assert result.index == pytest.approx(3 / 7)
    assert result.labels.max() == 7 and result.dab_means.shape == (7,)
    # DAB amount 1.2 (natural log) is 1.2 / ln 10 = 0.52 on QuPath's base-10 scale.
    brown_means = np.sort(result.dab_means)[-3:]
    np.testing.assert_allclose(brown_means, 1.2 / np.log(10), atol=0.01)
    assert np.sort(result.dab_means)[:4].max() < 0.01


def test_all_background_gives_no_nuclei_and_nan():
    result = ki67.ki67_index(np.full((64, 64, 3), 255, np.uint8))
    assert result.total == 0 and result.positive == 0 and np.isnan(result.index)
    assert result.dab_means.shape == (0,) and not result.labels.any()


def test_rejects_a_non_rgb_image():
    with pytest.raises(ValueError, match="image"):
        ki67.ki67_index(np.zeros((8, 8), np.uint8))


def test_real_hdab_image_gives_a_plausible_index():
    # skimage's IHC image stains membranes and cytoplasm, not nuclei: its nuclei are blue.
    # Measured: 122 nuclei (the stroma's; epithelial nuclei merge with brown cytoplasm into
    # objects over max_area and are left out), 1 positive, index 0.008.
    result = ki67.ki67_index(skdata.immunohistochemistry())
    assert 80 <= result.total <= 200
    assert result.index <= 0.1


def test_both_renderings_share_the_nuclei(twins):
    for twin in twins[:4]:
        truth = twin.instances > 0
        found_ki67 = ki67.ki67_index(twin.ki67).labels > 0
        found_he = stain.stain_concentrations(twin.he, stain.RUIFROK_HE)[..., 0] >= 0.6
        for found in (found_ki67, found_he):
            iou = (found & truth).sum() / (found | truth).sum()
            assert iou >= 0.8
        assert len(twin.positive) == twin.instances.max()


def _write(root, seed):
    return ihc.write_dataset(root, n_train=4, n_val=2, n_test=2, n_reference=1, seed=seed, size=96)


def _tree(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_dataset_is_byte_identical_per_seed_and_a_valid_data_root(tmp_path):
    summary = _write(tmp_path / "a", 7)
    _write(tmp_path / "b", 7)
    _write(tmp_path / "c", 8)
    a, b, c = (_tree(tmp_path / x) for x in "abc")
    assert a == b and a != c
    root = tmp_path / "a"
    info = layout.read_dataset_info(root)
    assert info.stains == ("HE", "KI67") and info.classes == ("normal", "tumour")
    for split in layout.SPLITS:
        paths, labels, patients = layout.list_labeled(root, split, info.classes)
        paired, paired_labels, _ = layout.list_paired(root, "KI67", split, info.classes)
        assert len(paired) == len(paths) == sum(summary["counts"][split].values())
        np.testing.assert_array_equal(labels, paired_labels)
        with open(root / "ki67" / f"{split}.csv") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == len(paths)
        for row in rows:
            assert (root / "masks" / row["file"]).is_file()
            nuclei, positive = int(row["nuclei"]), int(row["positive"])
            assert nuclei > 0 and float(row["index"]) == pytest.approx(positive / nuclei, abs=1e-6)
    for stain_name in info.stains:
        assert len(layout.list_reference(root, stain_name)) == 1
    assert pathlib.Path(root, "dataset.json").is_file()


def test_cli_scores_a_folder_and_names_a_bad_pattern(tmp_path):
    root = tmp_path / "data"
    _write(root, 2)
    out = tmp_path / "scores.csv"
    run = [sys.executable, "-m", "kerasg2c.pathology.ki67"]
    folder = root / "paired" / "KI67" / "test"
    done = subprocess.run([*run, f"--images={folder}", f"--out={out}"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(int(r["total"]) > 0 for r in rows)
    done = subprocess.run([*run, f"--images={tmp_path}/none/*.png"], capture_output=True)
    assert done.returncode == 2 and b"--images=" in done.stderr


@pytest.mark.parametrize("module", ["kerasg2c.phantoms.ihc", "kerasg2c.phantoms.mil_tiles"])
def test_phantom_cli_writes_a_preview_and_asks_for_an_output(module, tmp_path):
    run = [sys.executable, "-m", module]
    preview = tmp_path / "preview.png"
    done = subprocess.run([*run, f"--preview={preview}", "--size=64"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert preview.is_file() and preview.stat().st_size > 0
    done = subprocess.run(run, capture_output=True)
    assert done.returncode != 0 and b"--out or --preview" in done.stderr
