"""The paired translator: L1 training step, the aligned pair pipeline, and the job end to
end on tiny phantoms (generators exported, a report like the CycleGAN's)."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO
from model_harness import run_config_test, run_saving_test, run_train_step_test

from kerasg2c.data import layout, pipeline, stain_pairs
from kerasg2c.errors import UserError
from kerasg2c.jobs import config_files, launch, paired_translator_job
from kerasg2c.models.paired_translator import PairedTranslator
from kerasg2c.models.resnet_generator import ResnetGenerator
from kerasg2c.phantoms import glomeruli


def smooth_images(n, size=16, seed=0):
    """Bilinearly enlarged 4×4 noise in [-1, 1]: learnable by a tiny generator."""
    noise = np.random.default_rng(seed).uniform(-1, 1, (n, 4, 4, 3)).astype("float32")
    return tf.image.resize(noise, (size, size)).numpy()


def tiny_translator(learning_rate=1e-2):
    model = PairedTranslator(ResnetGenerator(ngf=4, n_blocks=2, name="generator_ab"))
    model(tf.zeros((1, 16, 16, 3)))
    model.compile(keras.optimizers.Adam(learning_rate, beta_1=0.5))
    return model


def test_l1_loss_decreases():
    model = tiny_translator()
    a = smooth_images(4)
    b = np.clip(0.8 * a[..., ::-1] + 0.1, -1, 1)  # another "stain": a fixed colour map
    step = tf.function(model.train_step)
    losses = [float(step((a, b))["l1_loss"]) for _ in range(30)]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.6 * losses[0], losses
    # The loss is mean |g(a) − b| over the batch (one replica: its share is all of it).
    expected = np.mean(np.abs(np.asarray(model(a, training=True)) - b))
    assert abs(float(step((a, b))["l1_loss"]) - expected) < 0.1 * expected


def test_train_step_updates_the_generator_and_the_model_saves():
    model = tiny_translator()
    a, b = smooth_images(2), smooth_images(2, seed=1)
    assert set(run_train_step_test(model, (a, b))) == {"l1_loss"}
    run_config_test(model, a)
    run_saving_test(model, a)
    assert model.generator_ba is None and model.num_classes == 0
    assert model.with_class(a, None) is a


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "root"
    glomeruli.write_dataset(root, n_train=8, n_val=3, n_test=3, n_reference=2, size=16)
    return root


def train_pair(root, stain):
    classes = layout.read_dataset_info(root).classes
    a = pipeline.load_labeled_split(root, "train", classes=classes)
    b = stain_pairs.paired_split(root, stain, "train", classes, False, None)
    return stain_pairs.aligned(a, b)


def batches(a_split, b_split, augment, epoch=1):
    ds = stain_pairs.paired_dataset(
        a_split, b_split, batch_size=4, image_size=16, seed=3, epoch=epoch, augment=augment
    )
    pairs = [(np.asarray(a), np.asarray(b)) for a, b in ds]
    return np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])


def test_pairs_are_the_same_patch_in_both_stains(data_root):
    a_split, b_split = train_pair(data_root, "HE")
    a, b = batches(a_split, b_split, augment=False)
    pas = pipeline.load_images(a_split, 16) * 2 - 1
    he = pipeline.load_images(b_split, 16) * 2 - 1
    assert len(a) == 8
    order = [int(np.argmin(np.abs(pas - x).reshape(len(pas), -1).max(axis=1))) for x in a]
    assert sorted(order) != order  # shuffled
    for i, k in enumerate(order):  # element i of both sides: file k, the same stem
        np.testing.assert_allclose(a[i], pas[k], atol=1e-6)
        np.testing.assert_allclose(b[i], he[k], atol=1e-6)
        stem = os.path.basename
        assert stem(a_split.paths[k]) == stem(b_split.paths[k])


def test_both_sides_get_the_same_augmentation(data_root, tmp_path):
    # paired/HE/train replaced by copies of the PAS images: the same patch, the same order
    # and the same flips, brightness and saturation make every pair bitwise equal.
    root = tmp_path / "root"
    shutil.copytree(data_root, root)
    shutil.rmtree(root / "paired" / "HE" / "train")
    shutil.copytree(root / "labeled" / "train", root / "paired" / "HE" / "train")
    a_split, b_split = train_pair(root, "HE")
    a, b = batches(a_split, b_split, augment=True)
    np.testing.assert_array_equal(a, b)
    plain, _ = batches(a_split, b_split, augment=False)
    assert not np.array_equal(a, plain)  # augmented at all
    other, _ = batches(a_split, b_split, augment=True, epoch=2)
    assert not np.array_equal(a, other)  # another epoch, another order


def test_unaligned_splits_are_refused(data_root):
    a_split, b_split = train_pair(data_root, "HE")
    with pytest.raises(ValueError, match="not aligned"):
        stain_pairs.paired_dataset(
            a_split.subset(range(1, 8)), b_split.subset(range(7)), batch_size=2, image_size=16
        )


def tiny_config(workdir, **overrides):
    config = config_files.load(os.path.join(REPO, "configs", "paired_translator.py"))
    config.workdir = str(workdir)
    p = config.data.phantoms
    p.n_train, p.n_val, p.n_test, p.n_reference, p.size = 12, 4, 4, 2, 32
    config.data.image_size = 32
    config.cyclegan.target_stains = ("HE", "PASM")
    config.model.ngf, config.model.n_blocks = 4, 2
    config.optimizer.learning_rate = 2e-3
    config.optimizer.constant_epochs, config.optimizer.decay_epochs = 3, 1
    config.train.epochs, config.train.batch_size = 4, 4
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node[part]
        node[leaf] = value
    return config


def test_shipped_config_passes_its_check():
    config = config_files.load(os.path.join(REPO, "configs", "paired_translator.py"))
    paired_translator_job.check(config)
    assert config.workdir == "runs/paired_translator"
    with pytest.raises(UserError, match=r"config key model\.ngf=0"):
        paired_translator_job.check(tiny_config("unused", **{"model.ngf": 0}))


def test_job_end_to_end(tmp_path):
    report = launch.run_job(paired_translator_job, tiny_config(tmp_path))
    assert report["trainer"] == "paired_translator" and report["source_stain"] == "PAS"
    assert json.loads((tmp_path / "report.json").read_text())["stains"].keys() == {"HE", "PASM"}
    for stain in ("HE", "PASM"):
        result = report["stains"][stain]
        assert 1 <= result["best_epoch"] <= 4
        assert [row["epoch"] for row in result["history"]] == [1, 2, 3, 4]
        for split in ("val", "test"):
            table = result[split]
            assert set(table) >= {"model", "identity", "reinhard"}
            assert "cycle_reconstruction_error" not in table  # no way back
            assert -1.0 <= table["model"]["ssim"]["mean"] <= 1.0
        generator = keras.saving.load_model(tmp_path / "generators" / f"{stain}.keras")
        y = np.asarray(generator(np.zeros((1, 32, 32, 3), "float32")))
        assert y.shape == (1, 32, 32, 3)
        assert (tmp_path / f"PAS_to_{stain}" / "samples" / f"PAS_to_{stain}_epoch004.png").exists()
        history = result["history"]
        assert history[-1]["train_l1_loss"] < history[0]["train_l1_loss"]


def test_missing_paired_folder_names_it(data_root, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(data_root, root)
    shutil.rmtree(root / "paired" / "HE" / "train")
    config = tiny_config(tmp_path / "run", **{"data.root": str(root)})
    with pytest.raises(UserError, match=r"paired/HE/train"):
        launch.run_job(paired_translator_job, config)
