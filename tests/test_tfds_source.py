"""Tests of kerasg2c.data.tfds_source on a tiny TFDS dataset built locally (no download)."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from kerasg2c.data import tfds_source

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
