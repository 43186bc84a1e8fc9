"""A TensorFlow Datasets split as a LabeledSplit (config `data.tfds`, e.g. patch_camelyon).

The images are read still encoded (`tfds.decode.SkipDecoding`) and decoded by the same
`decode_image_bytes` as files, then go through the same resize / cache / shuffle / augment
/ batch code of `pipeline.LabeledSplit.dataset`. Nothing is downloaded: the dataset must
already be prepared in `data_dir` (`tfds build NAME --data_dir=DIR` on a machine with
internet, then copy DIR).
"""

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from kerasg2c import errors
from kerasg2c.data import decode, image_source, pipeline

_SPLIT_NAMES = {"train": ("train",), "val": ("validation", "valid", "val"), "test": ("test",)}


def load_tfds_split(
    name, split, *, data_dir=None, image_key="image", label_key="label"
) -> pipeline.LabeledSplit:
    """Loads split `split` of the prepared TFDS dataset `name`.

    Args:
      name: TFDS name, optionally with config/version ("patch_camelyon:2.0.0").
      split: "train", "val" (TFDS "validation" when the dataset has it) or "test"; any
        other string is passed to TFDS as is (e.g. "train[:10%]").
      data_dir: TFDS data directory; None = TFDS's default.
      image_key, label_key: feature names of the image and of its ClassLabel.

    Returns:
      A LabeledSplit: classes from the label's ClassLabel names, paths '' and patients
      f"{split}_{index}" (one per example), nothing skipped.

    Raises:
      FileNotFoundError: the dataset is not prepared in data_dir.
      ValueError: unknown split or feature keys.
    """
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        raise errors.MissingPathError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir} (data_dir={data_dir}); "
            f"nothing is downloaded at run time: run `tfds build {name} --data_dir=DIR` "
            f"(or download and prepare it) on "
            "a machine with internet and copy DIR here, then pass it as data.tfds_data_dir"
        )
    tfds_split = _tfds_split(builder, split)
    features = builder.info.features
    _check_features(features, image_key, label_key, name)
    length = int(builder.info.splits[tfds_split].num_examples)
    if length == 0:
        raise errors.UserError(f"TFDS dataset {name}: split {tfds_split!r} is empty")
    ds = builder.as_dataset(
        split=tfds_split, shuffle_files=False, decoders={image_key: tfds.decode.SkipDecoding()}
    )
    keys = ds.map(
        lambda ex: (ex[image_key], tf.cast(ex[label_key], tf.int32)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    logging.info("TFDS %s split %s (%s): %d examples", name, split, tfds_split, length)
    return pipeline.LabeledSplit(
        name=split,
        classes=tuple(features[label_key].names),
        paths=("",) * length,
        labels=_labels(builder, tfds_split, label_key),
        patients=tuple(f"{split}_{i}" for i in range(length)),
        source=image_source.ImageSource(keys, decode.decode_image_bytes, length),
    )


def _tfds_split(builder, split):
    """The TFDS split name for a project split name (others pass through)."""
    available = list(builder.info.splits.keys())
    if split not in _SPLIT_NAMES:
        return split
    for candidate in _SPLIT_NAMES[split]:
        if candidate in available:
            return candidate
    raise errors.UserError(
        f"TFDS dataset {builder.name} has no {split!r} split; it has {available}"
    )


def _labels(builder, tfds_split, label_key):
    """All labels of the split, in example order, read without the images."""
    ds = builder.as_dataset(
        split=tfds_split,
        shuffle_files=False,
        decoders=tfds.decode.PartialDecoding({label_key: True}),
    )
    batches = ds.batch(4096).as_numpy_iterator()
    return np.concatenate([b[label_key] for b in batches]).astype(np.int32)


def _check_features(features, image_key, label_key, name):
    found = {key: features[key] for key in features.keys()}
    if not isinstance(found.get(image_key), tfds.features.Image):
        raise errors.UserError(
            f"TFDS dataset {name}: {image_key!r} is not an Image feature; features: {list(found)}"
        )
    if not isinstance(found.get(label_key), tfds.features.ClassLabel):
        raise errors.UserError(
            f"TFDS dataset {name}: {label_key!r} is not a ClassLabel; features: {list(found)}"
        )
