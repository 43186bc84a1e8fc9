"""The labeled splits a classification job reads, from its config and run context."""

import os

import numpy as np

from kerasg2c import json_files
from kerasg2c.data import layout, pipeline
from kerasg2c.errors import UserError

SPLITS = ("train", "val", "test")


def load_splits(config, context) -> dict:
    """{"train": split, "val": split, "test": split} from data.tfds or the DATA_ROOT; the
    training split keeps `data.max_train_patients` patients when set (0 = all; with
    data.tfds every example is its own patient, so that many examples)."""
    loaded = {s: load_split(config, context, s) for s in SPLITS}
    if config.data.max_train_patients:
        loaded["train"] = patient_subset(
            loaded["train"], config.data.max_train_patients, config.seed
        )
    return loaded


def load_split(config, context, split: str):
    """One split, whole, from data.tfds or the DATA_ROOT (no patient subset)."""
    if config.data.tfds:
        try:
            from kerasg2c.data import tfds_source
        except ImportError as e:
            raise UserError(
                "config key data.tfds needs tensorflow-datasets: pip install 'kerasg2c[tfds]'"
            ) from e
        return tfds_source.load_tfds_split(
            config.data.tfds, split, data_dir=config.data.tfds_data_dir or None
        )
    return pipeline.load_labeled_split(
        context.data_root,
        split,
        strict=config.data.strict,
        scan_cache=os.path.join(context.workdir, "data_scan.json"),
        max_pixels=config.data.max_pixels,
    )


def held_out_train(config, context, train):
    """The training split's examples of the patients `data.max_train_patients` left out of
    `train` (the drawn subset), in split order.

    Raises:
      UserError: every patient was drawn (data.max_train_patients 0, or not below the
        split's patient count).
    """
    whole = load_split(config, context, "train")
    drawn = set(train.patients)
    rest = [i for i, p in enumerate(whole.patients) if p not in drawn]
    if not rest:
        raise UserError(
            f"config key data.max_train_patients={config.data.max_train_patients}: every "
            "training patient is drawn, so none is held out; set it below the split's "
            f"{len(set(whole.patients))} patients"
        )
    return whole.subset(rest)


def patient_subset(split, n: int, seed: int):
    """The examples of `n` of the split's patients, whole, drawn with `seed` (a scarce-label
    training set; `data.max_train_patients`). All patients when it has `n` or fewer.

    Raises:
      UserError: a class has no example among the drawn patients.
    """
    patients = sorted(set(split.patients))
    if n >= len(patients):
        return split
    rng = np.random.default_rng([seed, len(patients)])
    chosen = {patients[i] for i in rng.choice(len(patients), n, replace=False)}
    subset = split.subset([i for i, p in enumerate(split.patients) if p in chosen])
    missing = [c for i, c in enumerate(split.classes) if not (subset.labels == i).any()]
    if missing:
        raise UserError(
            f"config key data.max_train_patients={n}: the patients drawn with seed {seed} "
            f"have no {missing[0]!r} example; use more patients or another seed"
        )
    return subset


def dataset_tasks(context) -> dict:
    """The hierarchical tasks the dataset declares (dataset.json "tasks"); {} for TFDS."""
    if context.data_root is None:
        return {}
    return layout.read_dataset_info(context.data_root).tasks


def declared_positive_class(context, classes) -> str | None:
    """The positive class that the DATA_ROOT's dataset.json declares ("positive_class", as
    for MIL) when the run has two classes; None when it declares none (then the second
    class is positive, and reports name it) or the data are not a DATA_ROOT.

    Raises:
      UserError: the declared name is not one of the two classes.
    """
    if context.data_root is None or len(classes) != 2:
        return None
    meta = os.path.join(context.data_root, "dataset.json")
    positive = json_files.read_object(meta).get("positive_class")
    if positive is not None and positive not in classes:
        raise UserError(f'{meta}: "positive_class" {positive!r} is not one of {list(classes)}')
    return positive
