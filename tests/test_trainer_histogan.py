"""`python -m trainers.histogan` end to end on tiny phantoms: feature extractor stage,
HistoGAN with FID selection, selective augmentation, augmented DATA_ROOTs that load."""

import json
import os
import re

import numpy as np
import pytest
from conftest import REPO, run_python, trainer_args

from kerasg2c.data import layout, pipeline
from kerasg2c.errors import UserError
from kerasg2c.jobs import config_files, histogan_job, shared_config

TINY = [
    "--config.data.phantoms.n_train=48",
    "--config.data.phantoms.n_val=12",
    "--config.data.phantoms.n_test=12",
    "--config.data.phantoms.n_reference=4",
    "--config.data.phantoms.size=32",
    "--config.data.image_size=32",
    "--config.histogan.channels=8",
    "--config.histogan.noise_dim=8",
    "--config.histogan.minibatch_kernels=4",
    "--config.histogan.n_critic=2",
    "--config.histogan.fid_warmup_epochs=1",
    "--config.histogan.fid_samples=32",
    "--config.train.batch_size=4",
    "--config.train.epochs=3",
    "--config.feature_extractor.train.epochs=2",
    "--config.feature_extractor.train.batch_size=8",
    "--config.feature_extractor.model.widths=8,16",
    "--config.feature_extractor.model.blocks_per_unit=1",
    "--config.feature_extractor.model.stem_width=8",
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("histogan")
    proc = run_python(trainer_args("histogan", workdir, *TINY))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


def test_fid_selection_keeps_the_lowest_smoothed_epoch(finished_run):
    report = json.loads((finished_run / "report.json").read_text())
    fid = {int(k): v for k, v in report["fid"].items()}
    smoothed = {int(k): v for k, v in report["fid_smoothed"].items()}
    assert sorted(fid) == [2, 3]  # epoch 1 is the warm-up
    assert smoothed[2] == fid[2] and smoothed[3] == pytest.approx(0.5 * fid[2] + 0.5 * fid[3])
    assert report["chosen_epoch"] == min(smoothed, key=smoothed.get)
    assert all(np.isfinite(v) and v >= 0 for v in fid.values())
    for name in ("best_generator.keras", "fid_curve.png", "tsne.png"):
        assert (finished_run / name).stat().st_size > 0, name
    assert (finished_run / "feature_extractor" / "model.keras").exists()
    grids = sorted(p.name for p in (finished_run / "samples").glob("stage*_epoch*.png"))
    assert grids[:2] == ["stage1_epoch001.png", "stage1_epoch002.png"] and len(grids) == 6


def test_every_arm_is_a_data_root_with_r_times_n_synthetic_images(finished_run):
    report = json.loads((finished_run / "report.json").read_text())
    per_class = report["selection"]["per_class"]
    real = pipeline.load_labeled_split(finished_run / "data", "train")
    kept_by_arm = {}
    for arm, root in report["selection"]["roots"].items():
        info = layout.read_dataset_info(root)
        assert info.classes == ("noa", "ss", "gs")
        train = pipeline.load_labeled_split(root, "train")
        synthetic = [p for p in train.patients if p.startswith("synthetic-")]
        assert len(train) == len(real) + len(synthetic)
        for c, name in enumerate(info.classes):
            n_real = int(np.sum(real.labels == c))
            assert per_class[name]["kept"] == int(np.floor(0.5 * n_real + 0.5))
            assert synthetic.count(f"synthetic-{name}") == per_class[name]["kept"]
        for split in ("val", "test"):
            assert len(pipeline.load_labeled_split(root, split)) == 12
        images = next(iter(train.dataset(batch_size=4, image_size=32)))[0]
        assert images.shape == (4, 32, 32, 3)
        kept_by_arm[arm] = {p for p in train.paths if "synthetic-" in p}
    # The filters choose what they say: lower entropy, nearer the centroid, both.
    for stats in per_class.values():
        entropy, distance = stats["mean_entropy"], stats["mean_distance"]
        assert entropy["entropy_only"] <= entropy["unselected"] + 1e-9
        assert distance["centroid_only"] <= distance["unselected"] + 1e-9
        assert entropy["selective"] <= entropy["unselected"] + 1e-9
    assert kept_by_arm["selective"] != kept_by_arm["unselected"]


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("data.image_size", 40, "config key data.image_size=40"),
        ("histogan.critic_norm", "group", "histogan.critic_norm"),
        ("histogan.ema_alpha", 1.5, "histogan.ema_alpha"),
        ("feature_extractor.model.loss", "l2", "feature_extractor.model.loss"),
    ],
)
def test_bad_keys_are_named(key, value, message):
    config = config_files.load(os.path.join(REPO, "configs", "histogan.py"))
    section, name = key.rsplit(".", 1)
    shared_config.value(config, section)[name] = value
    with pytest.raises(UserError, match=re.escape(message)):
        histogan_job.check(config)
