"""The glomerulus phantoms' PAS matrix fade (`pas_matrix_fade`, `data.phantoms.*`): the
premise knob of the G2C map. It fades sclerosis in PAS alone, its unset value writes the
files of the phantoms without it, and the trainers pass it from the config."""

import json

import numpy as np
import pytest

from kerasg2c.errors import UserError
from kerasg2c.jobs import config_files, context, shared_config
from kerasg2c.phantoms import glomeruli
from kerasg2c.phantoms import glomerulus_layout as gl

SMALL = {"n_train": 6, "n_val": 3, "n_test": 3, "n_reference": 2, "size": 32, "seed": 2}


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _pas_contrast(fade, difficulty=0.7):
    """Mean RGB distance in PAS between the sclerotic sector and the cellular tuft."""
    out = []
    for i in range(6):
        layout = gl.make_layout(np.random.default_rng([5, i]), 64, "ss", difficulty)
        image = glomeruli.render(layout, "PAS", np.random.default_rng(i), fade).astype(float)
        tissue = ~layout.nuclei & ~layout.lumen
        sector = (layout.sclerosis > 0.3) & tissue
        cells = layout.tuft & (layout.sclerosis == 0) & tissue & (layout.membrane < 0.1)
        out.append(np.linalg.norm(image[sector].mean(0) - image[cells].mean(0)))
    return float(np.mean(out))


def test_the_fade_hides_sclerosis_in_pas_step_by_step():
    control, today, faint = (_pas_contrast(f) for f in (0.0, 0.45 * 0.7, 0.9))
    assert control > today > faint
    assert faint < 0.5 * control
    assert _pas_contrast(None) == pytest.approx(today)  # unset: 0.45 × difficulty


def test_unset_is_byte_identical_and_only_pas_depends_on_it(tmp_path):
    glomeruli.write_dataset(tmp_path / "unset", difficulty=0.7, **SMALL)
    glomeruli.write_dataset(tmp_path / "same", difficulty=0.7, pas_matrix_fade=0.315, **SMALL)
    glomeruli.write_dataset(tmp_path / "control", difficulty=0.7, pas_matrix_fade=0.0, **SMALL)
    unset, same, control = (_files(tmp_path / n) for n in ("unset", "same", "control"))
    assert json.loads(unset["dataset.json"])["generator"].keys() == {
        "name", "seed", "size", "difficulty"
    }  # fmt: skip
    assert json.loads(control["dataset.json"])["generator"]["pas_matrix_fade"] == 0.0
    changed = {k for k in unset if unset[k] != control[k] and k != "dataset.json"}
    pas = {k for k in unset if k.startswith(("labeled/", "reference/PAS/"))}
    assert changed and changed <= pas  # HE, MASSON and PASM are the same files
    assert len(changed) > 0.8 * len(pas)
    del unset["dataset.json"], same["dataset.json"]
    assert unset == same  # 0.45 × 0.7 given by hand: the same files
    with pytest.raises(ValueError, match="pas_matrix_fade"):
        glomeruli.write_dataset(tmp_path / "bad", pas_matrix_fade=1.5, **SMALL)


def test_the_config_key_reaches_the_phantoms_and_is_checked(tmp_path):
    config = config_files.load("configs/g2c.py")
    config.workdir = str(tmp_path)
    config.data.phantoms.update(n_train=6, n_val=3, n_test=3, n_reference=2, size=32)
    config.data.phantoms.pas_matrix_fade = 0.9
    shared_config.check_shared(config)
    root = context.RunContext.create(config).data_root
    generator = json.loads((tmp_path / "data" / "dataset.json").read_text())["generator"]
    assert root == str(tmp_path / "data") and generator["pas_matrix_fade"] == 0.9
    config.data.phantoms.pas_matrix_fade = 2.0
    with pytest.raises(UserError, match="data.phantoms.pas_matrix_fade"):
        shared_config.check_shared(config)
