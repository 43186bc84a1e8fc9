"""The cell phantoms' nuisance knob (kerasg2c.phantoms.cell_nuisance): level 0 renders the
pinned phantoms of before the knob, a draw scales with the level, the nuisance changes the
crops but not the cell, a bad level is refused, and the InfoWGAN-GP job writes its
phantoms at the config's level."""

import hashlib
import json

import numpy as np
import pytest
from phantom_checks import written_files
from PIL import Image
from skimage import measure

from kerasg2c.phantoms import cell_nuisance
from kerasg2c.phantoms import cell_shapes as cs
from kerasg2c.phantoms import cells as cp

# sha256 of the pixels (uint8 H×W×3 bytes) of crops (split, index) of write_cells(seed=0,
# n_train=6, n_val=5, n_test=5), of its sorted file names (one a line) and of its
# dataset.json, computed with the code before the nuisance knob existed: level 0 (the
# control) must keep rendering exactly these phantoms.
PINNED_CROPS = {
    ("train", 0): "e5ae19f8be08fcef5d06e03d6b54c04272763584c70712bd2f6282eff04f37e1",
    ("train", 1): "a9e5eed0330b89e8fa0d9ee64939c20ed4bad59f6cd86d3121a71e2820a29924",
    ("train", 2): "c046595f5b5650bed35be238e738d40a1a224c0027678a436af0844792bf06b7",
    ("train", 3): "c1f1bad04758fa2ce722c92842d84c430e625b9858006b56778bfd62a7266e2a",
    ("train", 5): "4978ae5ed61a8d7ede6127310aa4108c23f279a7f5adaa4e535a0be35a9fa798",
    ("val", 0): "ad60cd258d6ecc6a26e54f3b06b1e557d905bfddbcb57d19fd3b8f9d9adc4ac8",
    ("test", 1): "1f36020316c19d3234707a8a10dee57e678c4712dd68e052e6b73680ed1e69ec",
}
PINNED_NAMES = "69f950bcc4ff9ecd1756ab0625255cf5cc2ad455740e409940afc4f747374a7e"
PINNED_META = "1ac4326ac48a1ae348af743a15d0042ab32784c429cb69c626438376a9fdb592"
NUISANCE_CELLS = {"n_train": 6, "n_val": 5, "n_test": 5, "seed": 0}


def _pixels(path):
    return hashlib.sha256(np.asarray(Image.open(path)).tobytes()).hexdigest()


def _nuisance_crops(level, n=100, size=32):
    """(image, mask) of `n` crops (types in turn) drawn as write_cells draws them."""
    crops = []
    for i in range(n):
        drawn = cell_nuisance.Nuisance.draw(cp._rng(3, 0, i, cp._NUISANCE), level, size, cs.TYPES)
        crops.append(cs.make_cell(cp._rng(3, 0, i, cp._IMAGE), cs.TYPES[i % 5], size, drawn))
    return crops


def _on_border(image):
    """Whether the crop's border has non-white pixels (3 or more darker than 200)."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return (border.min(-1) < 200).sum() >= 3


@pytest.mark.parametrize("nuisance", [None, 0, 0.0])
def test_nuisance_control_renders_the_pinned_phantoms(tmp_path, nuisance):
    kwargs = {} if nuisance is None else {"nuisance": nuisance}
    cp.write_cells(tmp_path, **NUISANCE_CELLS, **kwargs)
    for (split, index), digest in PINNED_CROPS.items():
        (path,) = (tmp_path / "labeled" / split).glob(f"*/*__c{index:06d}.png")
        assert _pixels(path) == digest, path
    names = "".join(f"{n}\n" for n in sorted(written_files(tmp_path)))
    assert hashlib.sha256(names.encode()).hexdigest() == PINNED_NAMES, names
    assert hashlib.sha256((tmp_path / "dataset.json").read_bytes()).hexdigest() == PINNED_META


def test_nuisance_draw_scales_with_the_level():
    rng = np.random.default_rng
    assert cell_nuisance.Nuisance.draw(rng(1), 0, 32, cs.TYPES) == cell_nuisance.Nuisance()
    image, mask = cs.make_cell(rng(4), "monocyte", nuisance=cell_nuisance.Nuisance())
    control = cs.make_cell(rng(4), "monocyte")
    np.testing.assert_array_equal(image, control[0])
    np.testing.assert_array_equal(mask, control[1])
    for level, size in ((1, 32), (2, 32), (2, 64)):
        drawn = [cell_nuisance.Nuisance.draw(rng([level, i]), level, size, cs.TYPES)
                 for i in range(400)]  # fmt: skip
        shifts = np.hypot(*np.array([d.shift for d in drawn]).T)
        assert shifts.max() <= 3 * level * size / 32 and np.median(shifts) > level * size / 32
        fragments = np.mean([d.fragment is not None for d in drawn])
        assert abs(fragments - min(1, 0.4 * level)) < 0.07, fragments
        stains = np.log([d.stain for d in drawn])
        np.testing.assert_allclose(stains.std(0), 0.15 * level, rtol=0.15)
        assert np.log([d.size for d in drawn]).std() == pytest.approx(0.08 * level, rel=0.15)
    # A crop's perturbations at level 2 are those of level 1, twice as strong.
    one, two = (cell_nuisance.Nuisance.draw(rng(9), lv, 32, cs.TYPES) for lv in (1, 2))
    np.testing.assert_allclose(np.multiply(one.shift, 2), two.shift)
    assert np.log(two.size) == pytest.approx(2 * np.log(one.size))


def test_nuisance_changes_the_crops_but_not_the_cell(tmp_path):
    cp.write_cells(tmp_path / "a", **NUISANCE_CELLS)
    cp.write_cells(tmp_path / "b", **NUISANCE_CELLS, nuisance=2)
    control, nuisance = written_files(tmp_path / "a"), written_files(tmp_path / "b")
    assert control.keys() == nuisance.keys()  # the same cells, types and patients
    assert all(control[k] != nuisance[k] for k in control if k.endswith(".png"))
    generator = json.loads(nuisance["dataset.json"])["generator"]
    assert generator["nuisance"] == 2.0 and "nuisance" not in json.loads(control["dataset.json"])
    shares = {}
    for level in (0, 1, 2):
        crops = _nuisance_crops(level)
        for _, mask in crops:
            assert measure.label(mask).max() == 1  # one connected nucleus: the main cell's
            centroid = np.argwhere(mask).mean(0) + 0.5  # the shift's disk, + 1 px of shape
            assert level == 0 or np.hypot(*(centroid - 16)) <= 3 * level + 1
        shares[level] = np.mean([_on_border(image) for image, _ in crops])
    # Crops now touch their border (neighbour fragments, off-centre cells); none did before.
    assert shares[0] == 0 and shares[0] < shares[1] < shares[2]
    assert 0.5 <= shares[2] <= 1.0, shares
    for _, mask in _nuisance_crops(2, 10, size=64):  # the shift scales with the crop
        centroid = np.argwhere(mask).mean(0) + 0.5
        assert measure.label(mask).max() == 1 and np.hypot(*(centroid - 32)) <= 3 * 2 * 2 + 1


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf"), "strong", True])
def test_bad_nuisance_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="nuisance"):
        cp.write_cells(tmp_path, n_train=1, n_val=1, n_test=1, nuisance=bad)
    assert not (tmp_path / "dataset.json").exists()


def test_infogan_job_writes_phantoms_at_the_config_nuisance(tmp_path):
    from conftest import REPO

    from kerasg2c.errors import UserError
    from kerasg2c.jobs import config_files, infowgan_job

    config = config_files.load(f"{REPO}/configs/infowgan.py")
    assert config.data.phantoms.nuisance == 0.0  # the control
    config.data.phantoms.update(n_train=5, n_val=5, n_test=5)
    config.data.phantoms.nuisance = 1.5
    infowgan_job.write_phantoms(tmp_path / "a", config)
    meta = json.loads((tmp_path / "a" / "dataset.json").read_text())
    assert meta["generator"]["nuisance"] == 1.5
    config.data.phantoms.nuisance = -1.0
    with pytest.raises(UserError, match=r"data\.phantoms\.nuisance=-1\.0"):
        infowgan_job.write_phantoms(tmp_path / "b", config)
    del config.data.phantoms.nuisance  # configs that share write_phantoms lack the key
    infowgan_job.write_phantoms(tmp_path / "c", config)
    assert "nuisance" not in json.loads((tmp_path / "c" / "dataset.json").read_text())
