"""`python -m trainers.histogan` end to end on tiny phantoms: feature extractor stage,
HistoGAN with FID selection, selective augmentation, augmented DATA_ROOTs that load, its
bad keys and paper configs, a killed run resumed exactly. One device against two replicas:
test_histogan_replicas.py."""

import json
import os

import numpy as np
import pytest
from conftest import REPO, prefetched, prefetched_value
from job_harness import (
    assert_bad_key_named,
    assert_resumed_to_the_same_state,
    killed_after_step_3,
    trained_run,
)
from PIL import Image

from kerasg2c.augment.feature_extractor import MCDropoutExtractor
from kerasg2c.data import layout, pipeline
from kerasg2c.jobs import classifier_job, config_files, histogan_job, shared_config

TINY = [
    "--config.data.phantoms.n_train=48",
    "--config.data.phantoms.n_val=12",
    "--config.data.phantoms.n_test=12",
    "--config.data.phantoms.n_reference=4",
    "--config.data.phantoms.size=32",
    "--config.data.image_height=64",  # 64 × 32 (height × width): base (2, 1), 2 stages
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


@prefetched()
def finished_run(tmp_path_factory):
    return trained_run(tmp_path_factory, "histogan", TINY)


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
    # The feature extractor stage (the classifier job) trained on the same 64 × 32 images.
    stage_config = json.loads((finished_run / "feature_extractor" / "config.json").read_text())
    assert shared_config.image_shape(stage_config) == (64, 32)
    assert (finished_run / "feature_extractor" / "report.json").exists()
    grids = sorted(p.name for p in (finished_run / "samples").glob("stage*_epoch*.png"))
    assert grids[:2] == ["stage1_epoch001.png", "stage1_epoch002.png"] and len(grids) == 6


def test_every_arm_is_a_data_root_with_r_times_n_synthetic_images(finished_run):
    report = json.loads((finished_run / "report.json").read_text())
    per_class = report["selection"]["per_class"]
    real = pipeline.load_labeled_split(finished_run / "data", "train")
    kept_by_arm = {}
    roots = report["selection"]["roots"]
    assert list(roots) == ["real", *histogan_job.ARMS]
    real_root = pipeline.load_labeled_split(roots.pop("real"), "train")
    assert sorted(map(os.path.basename, real_root.paths)) == sorted(
        map(os.path.basename, real.paths)
    )  # the baseline arms' data: the real training patches alone
    for arm, root in roots.items():
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
        images = next(iter(train.dataset(batch_size=4, image_size=(64, 32))))[0]
        assert images.shape == (4, 64, 32, 3)
        synthetic_files = [p for p in train.paths if "synthetic-" in p]
        assert {Image.open(p).size for p in synthetic_files} == {(32, 64)}  # (width, height)
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
        ("data.image_height", -1, "config key data.image_height=-1"),
        ("data.image_height", 48, "config key data.image_height=48"),
        ("histogan.critic_norm", "group", "histogan.critic_norm"),
        ("histogan.penalty_batch", "all", "histogan.penalty_batch"),
        ("histogan.ema_alpha", 1.5, "histogan.ema_alpha"),
        ("feature_extractor.model.loss", "l2", "feature_extractor.model.loss"),
    ],
)
def test_bad_keys_are_named(key, value, message):
    assert_bad_key_named("histogan", histogan_job.check, key, value, message)


@pytest.mark.parametrize(
    "name, shape, n_stages, base",
    [
        ("histogan_paper_cervical", (256, 128), 3, (4, 2)),
        ("histogan_paper_pcam", (96, 96), 2, (3, 3)),
    ],
)
def test_each_paper_config_passes_its_check_and_builds_at_a_tiny_width(
    name, shape, n_stages, base, tmp_path
):
    config = config_files.load(os.path.join(REPO, "configs", f"{name}.py"))
    if not config.data.tfds:
        config.data.root = str(tmp_path)
    histogan_job.check(config)
    assert shared_config.image_shape(config) == shape
    assert histogan_job.base_shape(config) == base and config.histogan.n_stages == n_stages
    # The paper's choices: WGAN-GP λ = 50, the interpolates' own batch, K = 5, dropout 0.5.
    h = config.histogan
    assert (h.gp_weight, h.penalty_batch, h.mc_passes, h.mc_dropout) == (
        50.0,
        "interpolates",
        5,
        0.5,
    )
    # The GAN at the paper's image sizes and stages, narrow.
    h.channels, h.noise_dim, h.minibatch_kernels = 4, 4, 2
    model = histogan_job.build_model(config, num_classes=2)
    assert model.penalty_batch == "interpolates" and len(model.critics) == n_stages
    assert tuple(model(np.zeros(1, "int32")).shape[1:3]) == shape
    # The feature extractor: ResNet34's 16 residual blocks (narrow), cross-entropy, the
    # MC dropout before the last block.
    fe = config.feature_extractor
    assert fe.model.loss == "cross_entropy" and fe.model.blocks_per_unit == (3, 4, 6, 3)
    fe.model.widths, fe.model.stem_width, fe.data.image_size = (4, 4, 4, 4), 4, 32
    classifier = classifier_job.build_model(fe, num_classes=2, steps_per_epoch=1)
    extractor = MCDropoutExtractor(classifier, rate=h.mc_dropout)
    assert len(classifier.backbone.blocks) == 16 and extractor._drop_after == 14
    assert classifier.loss_name == "cross_entropy"


# --- Resume -------------------------------------------------------------------

# TINY for one epoch (RESUME_FLAGS) with n_critic=1: 48 images, 4 per step, 12 steps.
# n_critic=1 because the first step's trace grows with n_critic × stages (~25 s for 1 × 2
# on a loaded CI core, ~50 s for TINY's 2 × 2) and this test traces it three times.
RESUME = [*TINY, "--config.histogan.n_critic=1"]


@prefetched()
def resume_runs(tmp_path_factory):
    """The run SIGKILLed after step 3 logged, then resumed, and the same run uninterrupted."""
    finished_run = prefetched_value(__name__, "finished_run")
    # Both runs load the finished run's feature extractor (training does not use it
    # before the FID warm-up ends), so neither trains one. Both must load it: a run that
    # trains its extractor in-process starts the GAN from other initial weights than a
    # run that loads it (the classifier stage draws from Keras's global RNG between the
    # job's set_random_seed and build_model).
    extractor = f"--config.histogan.feature_extractor={finished_run / 'feature_extractor'}"
    return killed_after_step_3(tmp_path_factory, "histogan", [*RESUME, extractor], steps=12)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_state(resume_runs):
    assert_resumed_to_the_same_state(resume_runs, steps=12)
