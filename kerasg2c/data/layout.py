"""Reads a DATA_ROOT laid out as docs/DATA.md describes.

    DATA_ROOT/dataset.json                                  (optional; every key optional)
    DATA_ROOT/labeled/<split>/<class>/<patient>__<name>.png
    DATA_ROOT/reference/<stain>/<name>.png
    DATA_ROOT/paired/<stain>/<split>/<class>/<patient>__<name>.png   (optional)

Listings are sorted, so the same tree always gives the same example order. Only files with
an image extension are listed (case-insensitive); anything else in a class directory is
logged and left out, and hidden files (".name", e.g. macOS "._x.png") are ignored.
"""

import dataclasses
import os

import numpy as np
from absl import logging

from kerasg2c import errors, json_files

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
SPLITS = ("train", "val", "test")
DEFAULT_SOURCE_STAIN = "PAS"
_PATIENT_SEPARATOR = "__"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a DATA_ROOT declares (dataset.json) or implies (its directories).

    Attributes:
      root: the DATA_ROOT.
      source_stain: stain of the labeled patches ("PAS" unless dataset.json says otherwise).
      stains: every stain of the dataset, the source first; default: the source stain,
        then the other directories of reference/ (sorted).
      classes: class names; the label of an example is its index here. Default: the sorted
        class directories of labeled/train.
      tasks: hierarchical tasks, {task: {group: [class, ...]}}; default {}.
    """

    root: str
    source_stain: str
    stains: tuple[str, ...]
    classes: tuple[str, ...]
    tasks: dict


def read_dataset_info(root) -> DatasetInfo:
    """Reads `root/dataset.json` (if any) and fills what it leaves out from the directories.

    Raises:
      FileNotFoundError: `root`, `root/labeled` or (to infer classes) `root/labeled/train`
        does not exist.
      ValueError: dataset.json is not valid JSON, not an object, or names a task class that
        is not one of the classes.
    """
    root = os.fspath(root)
    _require_dir(root, "data root")
    _require_dir(os.path.join(root, "labeled"), "labeled/ directory of the data root")
    meta = json_files.read_object(os.path.join(root, "dataset.json"))
    source = meta.get("source_stain", DEFAULT_SOURCE_STAIN)
    stains = tuple(meta["stains"]) if "stains" in meta else _default_stains(root, source)
    classes = tuple(meta["classes"]) if "classes" in meta else _default_classes(root)
    tasks = meta.get("tasks", {})
    _check_tasks(tasks, classes, os.path.join(root, "dataset.json"))
    return DatasetInfo(root=root, source_stain=source, stains=stains, classes=classes, tasks=tasks)


def patient_id(path) -> str:
    """The patient of an image: its file stem up to the first "__", or the whole stem."""
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    return stem.split(_PATIENT_SEPARATOR, 1)[0] or stem


def list_labeled(root, split, classes) -> tuple[list[str], np.ndarray, list[str]]:
    """Lists `root/labeled/<split>/<class>/*`.

    Args:
      root: the DATA_ROOT.
      split: "train", "val" or "test".
      classes: class names; a file's label is the index of its directory's name here.

    Returns:
      (paths sorted, int32 labels, patient ids), one entry per image.

    Raises:
      FileNotFoundError: the split directory does not exist.
      ValueError: the split holds no image, or a class directory that is not in `classes`.
    """
    return _list_classified(os.path.join(os.fspath(root), "labeled", split), tuple(classes))


def list_reference(root, stain) -> list[str]:
    """Sorted image paths of `root/reference/<stain>/` (FileNotFoundError / ValueError if
    the directory is missing / holds no image)."""
    directory = os.path.join(os.fspath(root), "reference", stain)
    _require_dir(directory, f"reference directory of stain {stain!r}")
    paths = _images_in(directory)
    if not paths:
        raise errors.UserError(f"{directory}: no images (extensions {', '.join(IMAGE_EXTENSIONS)})")
    return paths


def list_paired(root, stain, split, classes) -> tuple[list[str], np.ndarray, list[str]]:
    """Lists `root/paired/<stain>/<split>/...` aligned one-to-one with `list_labeled`.

    Entry i is the file at the same relative path as labeled entry i, so labels and
    patients are those of the labeled split.

    Raises:
      FileNotFoundError: naming the first labeled file that has no paired counterpart.
    """
    root = os.fspath(root)
    labeled_dir = os.path.join(root, "labeled", split)
    paired_dir = os.path.join(root, "paired", stain, split)
    _require_dir(paired_dir, f"paired directory of stain {stain!r}")
    paths, labels, patients = list_labeled(root, split, classes)
    paired = [os.path.join(paired_dir, os.path.relpath(p, labeled_dir)) for p in paths]
    missing = [p for p in paired if not os.path.isfile(p)]
    if missing:
        raise errors.MissingPathError(
            f"{missing[0]}: paired {stain} image missing for {paths[paired.index(missing[0])]} "
            f"({len(missing)} of {len(paired)} missing)"
        )
    return paired, labels, patients


def _list_classified(directory, classes):
    """Images of `directory/<class>/*` with their labels and patients."""
    _require_dir(directory, "split directory")
    paths, labels = [], []
    for entry in sorted(os.listdir(directory)):
        class_dir = os.path.join(directory, entry)
        if entry.startswith(".") or not os.path.isdir(class_dir):
            continue
        if entry not in classes:
            raise errors.UserError(
                f"{class_dir}: class directory {entry!r} is not a known class; known classes: "
                f"{list(classes)} (from dataset.json, else the directories of labeled/train)"
            )
        images = _images_in(class_dir)
        paths += images
        labels += [classes.index(entry)] * len(images)
    if not paths:
        raise errors.UserError(f"{directory}: empty split, no images in any class directory")
    return paths, np.asarray(labels, np.int32), [patient_id(p) for p in paths]


def _images_in(directory):
    """Sorted image files directly in `directory`; logs what else is there."""
    names = sorted(n for n in os.listdir(directory) if not n.startswith("."))
    images = [n for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
    others = sorted(set(names) - set(images))
    if others:
        logging.warning(
            "%s: ignoring %d entries that are not images (%s): %s",
            directory,
            len(others),
            ", ".join(IMAGE_EXTENSIONS),
            others[:10],
        )
    return [os.path.join(directory, n) for n in images]


def _require_dir(path, what):
    if not os.path.isdir(path):
        raise errors.MissingPathError(f"{path}: {what} does not exist")


def _default_classes(root):
    train = os.path.join(root, "labeled", "train")
    _require_dir(train, "labeled/train (needed to infer the classes; or list them in dataset.json)")
    classes = tuple(
        sorted(
            n
            for n in os.listdir(train)
            if not n.startswith(".") and os.path.isdir(os.path.join(train, n))
        )
    )
    if not classes:
        raise errors.UserError(f"{train}: no class directories")
    return classes


def _default_stains(root, source):
    reference = os.path.join(root, "reference")
    found = sorted(os.listdir(reference)) if os.path.isdir(reference) else []
    found = [
        n for n in found if not n.startswith(".") and os.path.isdir(os.path.join(reference, n))
    ]
    return (source,) + tuple(n for n in found if n != source)


def _check_tasks(tasks, classes, where):
    for task, groups in tasks.items():
        for group, members in groups.items():
            unknown = sorted(set(members) - set(classes))
            if unknown:
                raise errors.UserError(
                    f"{where}: task {task!r} group {group!r} names unknown classes {unknown}; "
                    f"classes: {list(classes)}"
                )
