"""Which of a MIL dataset's two classes is the positive (tumour) one: declared by the
config key `mil.positive_class` or dataset.json's "positive_class", never taken from the
order of the class folders or of the class list (the IHC paper's tiles are "tumour" or
"normal"; a user's may be `cancer/` and `normal/`, which sort the other way).

    >>> split = as_binary(split, binary_classes(config, root, split.classes))
"""

import dataclasses
import os

import numpy as np

from kerasg2c import json_files
from kerasg2c.errors import UserError

POSITIVE_KEY = "positive_class"  # dataset.json's declaration of the tumour class


def binary_classes(config, root, classes, prefix: str = "") -> tuple[str, str]:
    """(negative, positive): the positive class is `mil.positive_class` when set, else
    the "positive_class" that `root`'s dataset.json declares; the other class is the
    negative one. Never the order of the folders or of the class list.

    Args:
      config: the MIL config (its `mil.positive_class`).
      root: the DATA_ROOT (its dataset.json).
      classes: the dataset's classes (exactly two).
      prefix: where the MIL config sits in the one given, for messages ("mil_stage.").

    Raises:
      UserError: not two classes, no declaration, or one that is not a class.
    """
    key, meta = f"{prefix}mil.positive_class", os.path.join(root, "dataset.json")
    if len(classes) != 2:
        raise UserError(f"{meta}: MIL needs exactly two classes, the dataset has {list(classes)}")
    positive = config.mil.positive_class or json_files.read_object(meta).get(POSITIVE_KEY)
    where = f"config key {key}" if config.mil.positive_class else f"{meta} {POSITIVE_KEY!r}"
    if not positive:
        raise UserError(
            f"config key {key} is empty and {meta} declares no {POSITIVE_KEY!r}: name the "
            f"tumour class, one of {list(classes)} (MIL never takes it from folder order)"
        )
    if positive not in classes:
        raise UserError(f"{where}={positive!r}: not a class of {list(classes)}")
    return tuple(c for c in classes if c != positive) + (positive,)


def as_binary(split, roles):
    """`split` relabelled 0 = roles[0] (negative), 1 = roles[1] (positive)."""
    labels = (np.asarray(split.labels) == split.classes.index(roles[1])).astype(np.int32)
    return dataclasses.replace(split, classes=tuple(roles), labels=labels, source=None)
