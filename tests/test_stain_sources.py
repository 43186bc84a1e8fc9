"""G2C's stain sources (the oracle feeds the true stains; supervised trains its generators
with the pairs first) and scarce-label patient subsets."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import G2C_TINY, run_python, trainer_args

from kerasg2c.data import epochs, pipeline, stain_views
from kerasg2c.errors import UserError
from kerasg2c.jobs import splits
from kerasg2c.models.g2c import G2C
from kerasg2c.phantoms import glomeruli

STAINS = ("HE", "MASSON", "PASM")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms")
    glomeruli.write_dataset(root, n_train=24, n_val=6, n_test=6, n_reference=2, size=16)
    return root


def _decoded(path):
    return tf.io.decode_png(tf.io.read_file(path), channels=3).numpy() / 255.0


def test_the_oracle_feeds_exactly_the_paired_images(data_root):
    split = pipeline.load_labeled_split(data_root, "val")
    viewed = stain_views.with_stain_views(split, data_root, STAINS)
    images, _ = next(iter(viewed.dataset(batch_size=len(viewed), image_size=16)))
    assert images.shape == (len(split), 16, 16, 12)
    model = G2C((), 3, given_stains=3, widths=(4,), blocks_per_unit=1, stem_width=4)
    _, branch_inputs = model(images, training=False, return_stains=True)
    for i, path in enumerate(viewed.paths):
        relative = os.path.relpath(path, data_root / "labeled")
        np.testing.assert_allclose(images[i, ..., :3], _decoded(path), atol=1e-6)
        for m, stain in enumerate(STAINS):
            truth = _decoded(os.path.join(data_root, "paired", stain, relative))
            np.testing.assert_allclose(branch_inputs[m, i], truth, atol=1e-6)


def test_augmentation_moves_every_view_alike():
    rng = np.random.default_rng(0)
    patch = tf.constant(rng.uniform(size=(8, 8, 3)), tf.float32)
    stacked = tf.concat([patch] * 4, axis=-1)
    for seed in range(8):
        out = epochs.augment_image(stacked, tf.constant([seed, 1], tf.int64)).numpy()
        single = epochs.augment_image(patch, tf.constant([seed, 1], tf.int64)).numpy()
        for k in range(4):
            np.testing.assert_allclose(out[..., 3 * k : 3 * k + 3], single, atol=1e-6)


def test_a_missing_paired_folder_is_named(data_root, tmp_path):
    split = pipeline.load_labeled_split(data_root, "val")
    with pytest.raises(FileNotFoundError, match="paired/IHC/val"):
        stain_views.with_stain_views(split, data_root, ("IHC",))


def test_patient_subsets_are_whole_patients_and_seeded(data_root):
    train = pipeline.load_labeled_split(data_root, "train")
    patients = set(train.patients)
    a = splits.patient_subset(train, 4, seed=0)
    assert len(set(a.patients)) == 4
    for p in set(a.patients):  # every patch of a drawn patient, none of the others
        assert a.patients.count(p) == train.patients.count(p)
    assert a.paths == splits.patient_subset(train, 4, seed=0).paths
    others = {splits.patient_subset(train, 4, seed=s).paths for s in range(1, 6)}
    assert len(others - {a.paths}) >= 1  # another seed draws other patients
    assert splits.patient_subset(train, len(patients), seed=3) is train


def test_a_subset_missing_a_class_names_the_key(data_root):
    train = pipeline.load_labeled_split(data_root, "train")
    with pytest.raises(UserError, match="data.max_train_patients=1"):
        for seed in range(20):  # one patient has 2-6 patches: some draw lacks a class
            splits.patient_subset(train, 1, seed=seed)


def test_g2c_with_the_oracle_on_few_patients_from_the_cli(tmp_path):
    proc = run_python(
        trainer_args(
            "g2c",
            tmp_path / "run",
            *G2C_TINY,
            "--config.g2c.stain_source=paired",
            "--config.data.max_train_patients=3",
            "--config.data.phantoms.difficulty=0.7",
        )
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["stain_source"] == "paired" and report["stains"] == list(STAINS)
    assert report["data"]["train"]["patients"] == 3
    assert not (tmp_path / "run" / "cyclegan").exists()  # no generator was trained
    assert report["parameters"]["generators"] == 0


def test_an_oracle_model_round_trips_and_refuses_serving():
    model = G2C((), 3, given_stains=2, widths=(4,), blocks_per_unit=1, stem_width=4)
    images = tf.random.uniform((2, 8, 8, 9))
    model(images)
    copy = G2C.from_config(model.get_config())
    copy(images)
    copy.set_weights(model.get_weights())
    np.testing.assert_allclose(copy(images, training=False), model(images, training=False))
    assert copy.given_stains == 2 and copy.num_branches == 3
    with pytest.raises(ValueError, match="not for serving"):
        model.serving_outputs(images)


def test_supervised_stain_source_trains_its_generators_first(tmp_path):
    stage = [
        "--config.supervised_stage.model.ngf=4",
        "--config.supervised_stage.model.n_blocks=1",
        "--config.supervised_stage.train.epochs=1",
        "--config.supervised_stage.train.batch_size=4",
        "--config.supervised_stage.optimizer.constant_epochs=1",
        "--config.supervised_stage.optimizer.decay_epochs=0",
    ]
    cmd = trainer_args(
        "g2c",
        tmp_path,
        *G2C_TINY,
        "--config.variant=PAS_MASSON",
        "--config.g2c.stain_source=supervised",
        *stage,
    )
    proc = run_python(cmd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "supervised" / "generators" / "MASSON.keras").exists()
    assert not (tmp_path / "cyclegan").exists()
    stage_report = json.loads((tmp_path / "supervised" / "report.json").read_text())
    assert stage_report["trainer"] == "paired_translator" and list(stage_report["stains"]) == [
        "MASSON"
    ]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["stain_source"] == "supervised" and report["parameters"]["generators"] > 0
