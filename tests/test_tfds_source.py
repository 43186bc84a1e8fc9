"""Tests of kerasg2c.data.tfds_source on a tiny TFDS dataset built locally (no download)."""

import types

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from kerasg2c.data import layout, pipeline, tfds_source

SIZES = {"train": 6, "validation": 3, "test": 2}
SIZE = 8


def _image(split, index):
    """Example `index` of `split`: noise around a grey level that identifies it."""
    rng = np.random.default_rng([len(split), index])
    level = 40 + 20 * index + (100 if split == "validation" else 0)
    return np.clip(level + rng.integers(-10, 11, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)


class TinyStainPatches(tfds.core.GeneratorBasedBuilder):
    """Two classes of 8×8 noise patches; nothing to download."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Image(shape=(SIZE, SIZE, 3)),
                "label": tfds.features.ClassLabel(names=["benign", "tumour"]),
            }
        )
        return tfds.core.DatasetInfo(
            builder=self, features=features, supervised_keys=("image", "label")
        )

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in SIZES}

    def _generate_examples(self, split):
        for index in range(SIZES[split]):
            yield f"{split}_{index}", {"image": _image(split, index), "label": index % 2}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tfds"))
    TinyStainPatches(data_dir=directory).download_and_prepare()
    return directory


def test_val_split_maps_to_validation(data_dir):
    split = tfds_source.load_tfds_split("tiny_stain_patches", "val", data_dir=data_dir)
    assert split.name == "val" and split.classes == ("benign", "tumour") and len(split) == 3
    assert (
        split.patients == ("val_0", "val_1", "val_2")
        and split.paths == ("",) * 3
        and split.skipped == ()
    )
    # TFDS stores examples shuffled: the reference order is its own reading order.
    stored = tfds.load("tiny_stain_patches", split="validation", data_dir=data_dir, download=False)
    stored = list(tfds.as_numpy(stored))
    assert split.labels.dtype == np.int32 and split.labels.tolist() == [
        int(ex["label"]) for ex in stored
    ]
    images, labels = next(iter(split.dataset(batch_size=3, image_size=SIZE)))
    assert images.shape == (3, SIZE, SIZE, 3) and labels.numpy().tolist() == split.labels.tolist()
    np.testing.assert_allclose(
        images.numpy(), np.stack([ex["image"] for ex in stored]) / 255, atol=1e-6
    )
    means = sorted(_image("validation", i).mean() / 255 for i in range(3))
    np.testing.assert_allclose(sorted(images.numpy().mean(axis=(1, 2, 3))), means, atol=1e-6)


def test_training_pipeline_is_shared(data_dir):
    split = tfds_source.load_tfds_split("tiny_stain_patches", "train", data_dir=data_dir)
    kwargs = {
        "batch_size": 2,
        "image_size": 4,
        "training": True,
        "seed": 1,
        "epoch": 3,
        "augment": True,
    }
    full = [x.numpy() for x, _ in split.dataset(value_range="symmetric", **kwargs)]
    assert len(full) == 3 and all(
        x.shape == (2, 4, 4, 3) and -1 <= x.min() and x.max() <= 1 for x in full
    )
    resumed = [
        x.numpy()
        for x, _ in split.dataset(value_range="symmetric", skip_batches=1, cache=False, **kwargs)
    ]
    assert all(np.array_equal(a, b) for a, b in zip(resumed, full[1:])) and len(resumed) == 2


def test_errors(data_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not prepared.*tfds build tiny_stain_patches"):
        tfds_source.load_tfds_split("tiny_stain_patches", "train", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="not an Image feature"):
        tfds_source.load_tfds_split(
            "tiny_stain_patches", "train", data_dir=data_dir, image_key="pixels"
        )


def test_a_subset_keeps_the_tfds_examples(data_dir):
    # data.max_train_patients on a TFDS split: every example is its own patient, and the
    # subset reads the chosen examples from TFDS (there are no files to list again).
    from kerasg2c.jobs import splits

    split = tfds_source.load_tfds_split("tiny_stain_patches", "train", data_dir=data_dir)
    subset = splits.patient_subset(split, 4, seed=0)
    chosen = [split.patients.index(p) for p in subset.patients]
    assert len(subset) == 4 and chosen == sorted(chosen) and subset.paths == ("",) * 4
    assert subset.labels.tolist() == split.labels[chosen].tolist()
    everything = pipeline.load_images(split, SIZE)
    np.testing.assert_array_equal(pipeline.load_images(subset, SIZE), everything[chosen])
    with pytest.raises(ValueError, match="strictly increasing"):
        split.subset([2, 1])


def test_augmented_roots_write_the_tfds_examples_as_pngs(data_dir, tmp_path):
    # HistoGAN's augmented DATA_ROOTs from TFDS splits (no files): the real examples are
    # written once as PNGs into workdir/tfds_data and linked into every arm.
    from kerasg2c.errors import UserError
    from kerasg2c.jobs import histogan_job, splits

    loaded = {
        s: tfds_source.load_tfds_split("tiny_stain_patches", s, data_dir=data_dir)
        for s in ("train", "val", "test")
    }
    loaded["train"] = splits.patient_subset(loaded["train"], 4, seed=0)
    config = types.SimpleNamespace(data=types.SimpleNamespace(tfds="tiny_stain_patches"))
    context = types.SimpleNamespace(workdir=str(tmp_path), data_root=None)
    synthetic_file = tmp_path / "synthetic-benign__00000.png"
    Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(synthetic_file)
    synthetic = {arm: {0: [str(synthetic_file)]} for arm in histogan_job.ARMS}
    counts = {arm: {0: 1, 1: 0} for arm in histogan_job.ARMS}

    roots = histogan_job.write_augmented_roots(config, context, loaded, synthetic, counts)
    again = histogan_job.write_augmented_roots(config, context, loaded, synthetic, counts)
    assert again == roots and list(roots) == ["real", *histogan_job.ARMS]
    written = tmp_path / "tfds_data"
    assert layout.read_dataset_info(written).classes == ("benign", "tumour")
    for arm, root in roots.items():
        assert layout.read_dataset_info(root).classes == ("benign", "tumour")
        for s in ("train", "val", "test"):
            read = pipeline.load_labeled_split(root, s)
            real = [i for i, p in enumerate(read.patients) if not p.startswith("synthetic-")]
            expected = loaded[s]
            synthetic = s == "train" and arm != "real"  # the real root has no synthetic file
            assert len(real) == len(expected) and len(read) == len(real) + synthetic
            # The same examples (patients are TFDS's <split>_<index>), pixel for pixel.
            order = [read.patients[i] for i in real]
            assert sorted(order) == sorted(expected.patients)
            by_patient = dict(zip(expected.patients, pipeline.load_images(expected, SIZE)))
            images = pipeline.load_images(read, SIZE)[real]
            np.testing.assert_array_equal(images, np.stack([by_patient[p] for p in order]))
            labels = dict(zip(expected.patients, expected.labels))
            assert read.labels[real].tolist() == [labels[p] for p in order]
    # A later run with other training examples does not mix them in.
    loaded["train"] = splits.patient_subset(
        tfds_source.load_tfds_split("tiny_stain_patches", "train", data_dir=data_dir), 3, 0
    )
    with pytest.raises(UserError, match="tfds_data holds other examples than this run's"):
        histogan_job.write_augmented_roots(config, context, loaded, synthetic, counts)
    del loaded["test"]
    with pytest.raises(UserError, match=r"needs the train, val and test splits; \['test'\]"):
        other = types.SimpleNamespace(workdir=str(tmp_path / "other"), data_root=None)
        histogan_job.real_data_root(config, other, loaded)


@pytest.mark.slow
def test_histogan_pcam_config_runs_end_to_end_on_a_tiny_tfds_dataset(data_dir, tmp_path):
    # configs/histogan_paper_pcam.py with the tiny dataset in place of patch_camelyon and tiny
    # sizes: the feature extractor and HistoGAN train on the TFDS subset, and the augmented
    # DATA_ROOTs load. (The subprocess finds the dataset by its files in data_dir.)
    import json

    from conftest import run_python

    workdir = tmp_path / "run"
    flags = {
        "workdir": workdir,
        "data.tfds": "tiny_stain_patches",
        "data.tfds_data_dir": data_dir,
        "data.max_train_patients": 4,
        "data.image_size": 32,
        "histogan.channels": 4,
        "histogan.noise_dim": 4,
        "histogan.minibatch_kernels": 2,
        "histogan.n_critic": 1,
        "histogan.fid_warmup_epochs": 1,
        "histogan.fid_samples": 8,
        "train.batch_size": 2,
        "train.epochs": 2,
        "feature_extractor.train.epochs": 1,
        "feature_extractor.train.batch_size": 2,
        "feature_extractor.model.widths": "8,16",
        "feature_extractor.model.blocks_per_unit": 1,
        "feature_extractor.model.stem_width": 4,
    }
    args = ["-m", "trainers.histogan", "--config=configs/histogan_paper_pcam.py"]
    proc = run_python(args + [f"--config.{k}={v}" for k, v in flags.items()])
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads((workdir / "report.json").read_text())
    assert report["data"]["train"]["n"] == 4 and report["data"]["test"]["n"] == 2
    extractor = json.loads((workdir / "feature_extractor" / "report.json").read_text())
    assert extractor["data"]["train"]["n"] == 4  # the same TFDS subset
    for arm, root in report["selection"]["roots"].items():
        train = pipeline.load_labeled_split(root, "train")
        synthetic = [p for p in train.patients if p.startswith("synthetic-")]
        assert len(train) == 4 + len(synthetic) and bool(synthetic) == (arm != "real")
        assert len(pipeline.load_labeled_split(root, "val")) == 3
