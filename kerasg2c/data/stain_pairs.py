"""The data of one stain translator (CycleGAN, source stain → target stain): the unpaired
training sets, the evaluation splits with their ground truth where the DATA_ROOT has it
(`paired/`), and the unpaired tf.data pipeline.

Unpaired training follows the G2C papers (§Stain Transfer): a seeded subset of
`reference/<source>` and of `reference/<target>`. With `condition="labels"` (IHC paper,
class-conditional CycleGAN) both sides are labeled: `labeled/train` and its
`paired/<target>/train` twin, each with its class. `paired_dataset` reads such a pair
aligned, patch by patch (a translator trained on the pairs: `trainers.paired_translator`).
"""

import os

import numpy as np
import tensorflow as tf

from kerasg2c.data import decode, epochs, layout, pipeline
from kerasg2c.data.image_source import ImageSource
from kerasg2c.data.pipeline import LabeledSplit
from kerasg2c.errors import UserError

CONDITIONS = ("", "labels")


class StainPair:
    """The files of one translator: unpaired training sides and evaluation splits.

    Args:
      root: the DATA_ROOT; info: its `layout.DatasetInfo`.
      source, target: stain names.
      n_unlabeled: files per stain drawn from `reference/` (0 = all).
      condition: "" (unpaired reference patches) or "labels" (labeled patches and their
        classes on both sides).
      seed: draws the reference subsets (source: seed, target: seed + 1).
      strict, scan_cache, max_pixels: as in `decode.scan_images`.

    Attributes:
      train_a, train_b: the training sides (file lists, or LabeledSplits when conditional).
      reference_b: real target-stain files (Reinhard statistics, Fréchet reference).
      eval: {"val"|"test": (source split, aligned ground-truth split or None)}.
    """

    def __init__(
        self,
        root,
        info,
        source,
        target,
        *,
        n_unlabeled,
        condition,
        seed,
        strict,
        scan_cache,
        max_pixels,
    ):
        self.source, self.target = source, target
        self.name = f"{source}_to_{target}"
        self.classes = info.classes
        self.conditional = condition == "labels"

        scan = {"strict": strict, "scan_cache": scan_cache, "max_pixels": max_pixels}

        def labeled(split):
            return pipeline.load_labeled_split(root, split, classes=info.classes, **scan)

        self.reference_b = reference_files(root, target, n_unlabeled, seed + 1, **scan)
        if self.conditional:
            self.train_a = labeled("train")
            self.train_b = paired_split(root, target, "train", info.classes, **scan)
        else:
            self.train_a = reference_files(root, source, n_unlabeled, seed, **scan)
            self.train_b = self.reference_b
        # One image source per unpaired side, so its cache lives as long as the pair.
        self._sources = (
            None
            if self.conditional
            else tuple(ImageSource.from_files(side) for side in (self.train_a, self.train_b))
        )
        self.eval = {}
        for split in ("val", "test"):
            x, truth = labeled(split), None
            if os.path.isdir(os.path.join(root, "paired", target, split)):
                truth = paired_split(root, target, split, info.classes, **scan)
                x, truth = aligned(x, truth)
            self.eval[split] = (x, truth)

    def examples(self) -> int:
        """Training pairs of one epoch: the shorter labeled side, or the longer unpaired one
        (the shorter cycles)."""
        n_a, n_b = len(self.train_a), len(self.train_b)
        return min(n_a, n_b) if self.conditional else max(n_a, n_b)

    def dataset(self, *, seed, **read):
        """One epoch of training batches in [-1, 1]: (a, b), or ((a, one-hot class of a),
        (b, one-hot class of b)) when conditional.

        Args:
          seed: the run's seed (a conditional pair shuffles side b with `seed + 1`).
          **read: `batch_size`, `image_size`, `epoch`, `skip_batches`, `augment` and
            `repeat_to` (at least this many pairs, sides smaller than that repeated), as
            `LabeledSplit.dataset` takes them.
        """
        if not self.conditional:
            return unpaired_dataset(*self._sources, seed=seed, **read)
        sides = _zip_labeled((self.train_a, self.train_b), (seed, seed + 1), **read)
        n = len(self.classes)
        return sides.map(lambda a, b: ((a[0], tf.one_hot(a[1], n)), (b[0], tf.one_hot(b[1], n))))


def reference_files(root, stain, n, seed, strict, scan_cache, max_pixels=None) -> list:
    """Up to `n` readable files of `reference/<stain>/` (a seeded choice; 0 = all)."""
    paths = decode.scan_images(
        layout.list_reference(root, stain),
        strict=strict,
        cache_path=scan_cache,
        max_pixels=max_pixels,
    ).good
    paths = sorted(paths)
    if n and n < len(paths):
        chosen = np.random.default_rng(seed).choice(len(paths), n, replace=False)
        paths = [paths[i] for i in sorted(chosen)]
    return paths


def paired_split(root, stain, split, classes, strict, scan_cache, max_pixels=None) -> LabeledSplit:
    """`paired/<stain>/<split>` as a LabeledSplit (labels and patients of `labeled/`)."""
    paths, labels, patients = layout.list_paired(root, stain, split, classes)
    scan = decode.scan_images(paths, strict=strict, cache_path=scan_cache, max_pixels=max_pixels)
    good = set(scan.good)
    listed = LabeledSplit(f"{split}_{stain}", tuple(classes), tuple(paths), labels, tuple(patients))
    return listed.subset([i for i, p in enumerate(paths) if p in good])


def aligned(x: LabeledSplit, truth: LabeledSplit) -> tuple[LabeledSplit, LabeledSplit]:
    """Keeps the examples readable in both splits (same class folder and file name)."""

    common_keys = {_key(p) for p in x.paths} & {_key(p) for p in truth.paths}

    def subset(split):
        return split.subset([i for i, p in enumerate(split.paths) if _key(p) in common_keys])

    return subset(x), subset(truth)


def paired_dataset(a_split: LabeledSplit, b_split: LabeledSplit, *, seed=0, **read):
    """One epoch of aligned (a, b) image batches in [-1, 1]: element i of b is the patch
    of element i of a in the other stain (splits as `aligned` returns them).

    Both sides are read with the same seeds: equal lengths give the same permutation, and
    `epochs.augment_image` draws the same flips, brightness and saturation for both.
    Order and augmentation are functions of (seed, epoch), as in `LabeledSplit.dataset`.

    Args:
      a_split, b_split: the two stains of the same patches, aligned file by file.
      seed: the run's seed.
      **read: `batch_size`, `image_size`, `epoch`, `skip_batches`, `augment` and
        `repeat_to` (at least this many pairs, fewer repeated), as `LabeledSplit.dataset`
        takes them.
    """
    if [_key(p) for p in a_split.paths] != [_key(p) for p in b_split.paths]:
        raise ValueError(
            f"{a_split.name} and {b_split.name} are not aligned file by file "
            f"({len(a_split)} and {len(b_split)} files): pass them through `aligned`"
        )
    # One permutation and one augmentation for both sides.
    sides = _zip_labeled((a_split, b_split), (seed, seed), **read)
    return sides.map(lambda a, b: (a[0], b[0]))


def _zip_labeled(splits, seeds, **read):
    """One training epoch of each labeled split, in [-1, 1], side by side: ((x, label),
    (x, label)) batches, split i read with `seeds[i]` and the `LabeledSplit.dataset`
    arguments `read`."""
    return tf.data.Dataset.zip(
        tuple(
            split.dataset(value_range="symmetric", training=True, seed=side_seed, **read)
            for split, side_seed in zip(splits, seeds)
        )
    )


def _key(path):
    """A file's class folder and name: what identifies a patch in every stain."""
    return os.path.join(*path.split(os.sep)[-2:])


def unpaired_dataset(
    source_a: ImageSource,
    source_b: ImageSource,
    *,
    batch_size,
    image_size,
    seed=0,
    epoch=0,
    skip_batches=0,
    augment=False,
    cache=True,
    repeat_to=0,
) -> tf.data.Dataset:
    """One epoch of unpaired (a, b) image batches in [-1, 1] (CycleGAN: stain A, stain B).

    An epoch has max(len(a), len(b)) // batch_size batches; each side is shuffled on its
    own (seeded from (seed, epoch, side)) and the shorter one cycles, reshuffled per pass;
    with `repeat_to`, an epoch has at least that many pairs (both sides repeated).
    Order and augmentation are functions of (seed, epoch), as in `LabeledSplit.dataset`.
    With `cache`, each source keeps its images in memory for as long as it lives.
    """
    length = max(source_a.length, source_b.length) // batch_size * batch_size
    length = max(length, -(-repeat_to // batch_size) * batch_size)
    if length == 0:
        raise UserError(
            f"{source_a.length} and {source_b.length} images, fewer than one batch of "
            f"{batch_size}: lower config key train.batch_size"
        )
    sides = []
    for side, source in enumerate((source_a, source_b)):
        elements = epochs.epoch_elements(
            source,
            image_size=image_size,
            cache=cache,
            value_range="symmetric",
            shuffle_seed=epochs.shuffle_seed(seed, epoch, side),
            length=length,
            skip=skip_batches * batch_size,
            augment_seed=[seed, 2 * epoch + side] if augment else None,
        )
        sides.append(elements.map(lambda image, label: image))
    return (
        tf.data.Dataset.zip(tuple(sides))
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
