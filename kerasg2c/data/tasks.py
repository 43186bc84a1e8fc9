"""Hierarchical tasks declared by a dataset (`dataset.json` "tasks", docs/DATA.md).

A task maps groups to classes, e.g. s_vs_noa = {"s": ["ss", "gs"], "noa": ["noa"]}. The G2C
papers classify glomeruli in two steps: s-vs-noa on every patch, then ss-vs-gs on the
sclerotic ones. Here the first task of a hierarchy must cover every class, and the second
refines one of its groups (its classes are exactly that group's); every other group of the
first task holds one class, so the two answers combine into one class per patch.
"""

import numpy as np

from kerasg2c import errors
from kerasg2c.data.pipeline import LabeledSplit


def task_split(split: LabeledSplit, groups: dict) -> LabeledSplit:
    """The examples of `split` whose class belongs to a group of the task, labeled by group.

    Args:
      split: a split labeled with the dataset's classes.
      groups: {group: [class, ...]} (dict order = label order of the result).

    Returns:
      A split whose `classes` are the group names; files only (like `LabeledSplit.subset`).
    """
    group_of = {c: g for g, (_, members) in enumerate(groups.items()) for c in members}
    keep = [i for i, label in enumerate(split.labels) if split.classes[label] in group_of]
    if not keep:
        raise errors.UserError(
            f"{split.name} split: no example of the task's classes {sorted(group_of)}"
        )
    subset = split.subset(keep)
    return LabeledSplit(
        name=split.name,
        classes=tuple(groups),
        paths=subset.paths,
        labels=np.array([group_of[split.classes[c]] for c in subset.labels], np.int32),
        patients=subset.patients,
        skipped=split.skipped,
    )


def task_groups(tasks: dict, name: str, key: str = "data.task") -> dict:
    """`tasks[name]`, or a ValueError naming the config `key` and the declared tasks."""
    if name not in tasks:
        declared = list(tasks) or "none (dataset.json has no 'tasks')"
        raise errors.UserError(f"config key {key}={name!r}: the dataset declares tasks {declared}")
    return tasks[name]


def refined_group(tasks: dict, classes, first: str, second: str, key: str = "hierarchy") -> str:
    """The group of task `first` that task `second` splits further.

    Raises:
      ValueError naming the config `key`: a task is not declared, `first` does not cover
      every class, `second`'s classes are no group of `first`, or another group of `first`
      holds several classes (their answer would not be one class).
    """
    first_groups = task_groups(tasks, first, key)
    second_groups = task_groups(tasks, second, key)
    covered = sorted(c for members in first_groups.values() for c in members)
    if covered != sorted(classes):
        raise errors.UserError(
            f"config key {key}: the first task {first!r} must cover every class "
            f"{sorted(classes)}, it covers {covered}"
        )
    refined = sorted(c for members in second_groups.values() for c in members)
    matches = [g for g, members in first_groups.items() if sorted(members) == refined]
    if not matches:
        raise errors.UserError(
            f"config key {key}: the classes of {second!r} ({refined}) are no group of "
            f"{first!r} ({dict(first_groups)})"
        )
    others = {g: m for g, m in first_groups.items() if g != matches[0] and len(m) != 1}
    if others:
        raise errors.UserError(
            f"config key {key}: groups {sorted(others)} of {first!r} hold several classes and "
            f"{second!r} does not split them"
        )
    return matches[0]
