"""The IHC twins' H&E cue (`he_cue`, `data.phantoms.he_cue` of configs/ki67_eval.py): the
premise knob of the conditional CycleGAN map. Below 1 a normal tile's nuclei and density
move towards the tumour's while its Ki-67 positivity stays normal; tumour tiles and the
default phantoms do not change."""

import json

import numpy as np
import pytest

from kerasg2c.errors import UserError
from kerasg2c.jobs import config_files, ki67_eval_job
from kerasg2c.phantoms import cells, ihc

SMALL = {"n_train": 4, "n_val": 2, "n_test": 2, "n_reference": 1, "size": 64, "seed": 1}


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _normal_tiles(he_cue, n=24):
    twins = [ihc.make_twin(cells._rng(4, i), 256, "normal", he_cue) for i in range(n)]
    nuclei = np.mean([len(t.positive) for t in twins])
    area = np.mean([np.bincount(t.instances.ravel())[1:].mean() for t in twins])
    return nuclei, area, np.mean([t.index for t in twins])


def test_a_lower_cue_draws_normal_tiles_like_the_tumour_with_normal_positivity():
    tumour = [ihc.make_twin(cells._rng(4, i), 256, "tumour") for i in range(24)]
    tumour_nuclei = np.mean([len(t.positive) for t in tumour])
    tumour_area = np.mean([np.bincount(t.instances.ravel())[1:].mean() for t in tumour])
    (n1, a1, k1), (n5, a5, _), (n0, a0, k0) = (_normal_tiles(c) for c in (1.0, 0.5, 0.0))
    assert n1 < n5 < n0 and a1 < a5 < a0  # more and larger nuclei as the cue fades
    assert abs(n0 - tumour_nuclei) < 0.15 * tumour_nuclei
    assert abs(a0 - tumour_area) < 0.15 * tumour_area
    assert k1 < 0.16 and k0 < 0.16  # positivity stays normal's (0.02–0.15)


def test_cue_one_is_the_default_and_only_normal_tiles_change(tmp_path):
    ihc.write_dataset(tmp_path / "default", **SMALL)
    ihc.write_dataset(tmp_path / "one", he_cue=1.0, **SMALL)
    ihc.write_dataset(tmp_path / "zero", he_cue=0.0, **SMALL)
    default, one, zero = (_files(tmp_path / n) for n in ("default", "one", "zero"))
    assert default == one
    assert "he_cue" not in json.loads(default["dataset.json"])["generator"]
    assert json.loads(zero["dataset.json"])["generator"]["he_cue"] == 0.0
    changed = {k for k in default if default[k] != zero[k] and k != "dataset.json"}
    assert changed and all("/normal/" in k or k.startswith("ki67/") for k in changed)
    assert not any(k.startswith("reference/") or "/tumour/" in k for k in changed)
    with pytest.raises(ValueError, match="he_cue"):
        ihc.make_twin(cells._rng(0, 0), 64, "normal", 1.5)


def test_the_config_key_is_checked():
    config = config_files.load("configs/ki67_eval.py")
    assert config.data.phantoms.he_cue == 1.0 and config.ki67.condition_source == "mil"
    config.data.phantoms.he_cue = 2.0
    with pytest.raises(UserError, match="data.phantoms.he_cue=2.0"):
        ki67_eval_job.check(config)
    config.data.phantoms.he_cue = 0.5
    config.ki67.condition_source = "oracle"
    with pytest.raises(UserError, match="ki67.condition_source='oracle'"):
        ki67_eval_job.check(config)
