"""tf.data input pipelines of labeled splits (unpaired stain sets: `stain_pairs`).

Every epoch's dataset is a pure function of (seed, epoch): the training order is a
tf.data shuffle seeded from (seed, epoch) (a split smaller than an epoch needs is repeated,
each pass reshuffled from that seed: `repeat_to`), and the
augmentation of the element at position i of the epoch is seeded from (seed, epoch, i). A
run that stops after batch k resumes with `skip_batches=k` and sees exactly the batches an
uninterrupted run would have seen; the skipped elements are neither decoded nor augmented.
(tf.data derives a shuffle's seeds from the op seed AND TF's global seed when one is set,
e.g. by `keras.utils.set_random_seed`; a resumed run must set the same one, as a trainer
that seeds from its config does.)

Images are resized (bilinear, antialiased) to image_size × image_size, or to height × width
when image_size is a (height, width) pair, and stored as uint8.
With `cache=True` the decoded, resized uint8 images are kept in memory by a `cache()` that
belongs to the split object, so every epoch after the first reads memory, not files.
Cached or not, batches are bitwise equal. The source and its cache are `image_source`'s,
the epoch's order, skip and augmentation `epochs`'.
"""

import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

from kerasg2c import errors
from kerasg2c.data import decode, layout
from kerasg2c.data.epochs import AUTOTUNE, _check_value_range, epoch_elements, shuffle_seed
from kerasg2c.data.image_source import ImageSource


@dataclasses.dataclass(frozen=True, eq=False)
class LabeledSplit:
    """One labeled split: its readable examples, those skipped, and its tf.data pipeline.

    Attributes:
      name: "train", "val" or "test".
      classes: class names (label i is classes[i]).
      paths: readable image files, one per example ('' for TFDS examples).
      labels: int32 [N].
      patients: patient id of every example.
      skipped: (path, reason) of every unreadable file left out.
      views: per example, files of the same patch in other stains, stacked after it on
        the channel axis (`stain_views`); () = none.
      source: where the images come from; by default the files in `paths` (and `views`).
    """

    name: str
    classes: tuple[str, ...]
    paths: tuple[str, ...]
    labels: np.ndarray
    patients: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    views: tuple[tuple[str, ...], ...] = dataclasses.field(default=(), repr=False)
    source: ImageSource | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self):
        if self.source is None:
            source = ImageSource.from_files(self.paths, self.labels, self.views)
            object.__setattr__(self, "source", source)

    @classmethod
    def unlabeled(cls, paths, name="unlabeled") -> "LabeledSplit":
        """The files `paths` as a one-class split (each file its own patient)."""
        paths = tuple(paths)
        return cls(name, ("unlabeled",), paths, np.zeros(len(paths), np.int32), paths)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices, name=None) -> "LabeledSplit":
        """The examples at `indices`, as a split of their own. Examples without files
        (TFDS: paths '') keep their source, filtered by position: `indices` must then be
        strictly increasing."""
        indices = np.asarray(indices, int)
        source = None if all(self.paths) else self.source.subset(indices)
        return LabeledSplit(
            name=name or self.name,
            classes=self.classes,
            paths=tuple(self.paths[i] for i in indices),
            labels=self.labels[indices],
            patients=tuple(self.patients[i] for i in indices),
            skipped=self.skipped,
            views=tuple(self.views[i] for i in indices) if self.views else (),
            source=source,
        )

    def dataset(
        self,
        *,
        batch_size,
        image_size,
        value_range="unit",
        training=False,
        seed=0,
        epoch=0,
        skip_batches=0,
        augment=False,
        cache=True,
        drop_remainder=None,
        repeat_to=0,
    ) -> tf.data.Dataset:
        """One epoch of (images float32 [B, H, W, 3], labels int32 [B]) batches.

        Args:
          batch_size: examples per batch (global batch under tf.distribute).
          image_size: S (images are resized to S × S) or (H, W) (to H × W).
          value_range: "unit" ([0, 1]) or "symmetric" ([-1, 1]).
          training: shuffle (order a function of (seed, epoch)) and allow augmentation;
            False keeps file order.
          seed, epoch: determine the order and the augmentation.
          skip_batches: start at batch k of the epoch (resume mid-epoch).
          augment: random flips, brightness and saturation jitter (training only).
          cache: keep decoded, resized images in memory across epochs.
          drop_remainder: drop the last partial batch; default `training`.
          repeat_to: an epoch of at least this many examples: a smaller split is repeated,
            reshuffled per pass when training (`train_settings.steps_per_epoch`).
        """
        _check_value_range(value_range)
        ds = epoch_elements(
            self.source,
            image_size=image_size,
            cache=cache,
            value_range=value_range,
            shuffle_seed=shuffle_seed(seed, epoch) if training else None,
            length=repeat_to if repeat_to > len(self) else None,
            skip=skip_batches * batch_size,
            augment_seed=[seed, epoch] if training and augment else None,
        )
        drop = training if drop_remainder is None else drop_remainder
        return ds.batch(batch_size, drop_remainder=drop).prefetch(AUTOTUNE)


def load_labeled_split(
    root, split, *, classes=None, strict=False, scan_cache=None, max_pixels=None
) -> LabeledSplit:
    """Lists `root/labeled/<split>` and drops (and reports) the files that do not decode.

    Args:
      root: the DATA_ROOT.
      split: "train", "val" or "test".
      classes: class names; default `read_dataset_info(root).classes`.
      strict: the first unreadable or too large file raises UserError naming it.
      scan_cache: JSON file remembering files already verified (see `scan_images`).
      max_pixels: files above this many pixels are skipped undecoded (see `scan_images`).

    Raises:
      ValueError: no readable image at all, and the layout errors of `list_labeled`.
    """
    classes = tuple(classes or layout.read_dataset_info(root).classes)
    paths, labels, patients = layout.list_labeled(root, split, classes)
    scan = decode.scan_images(paths, strict=strict, cache_path=scan_cache, max_pixels=max_pixels)
    keep = set(scan.good)
    mask = np.array([p in keep for p in paths], bool)
    if not mask.any():
        raise errors.UserError(
            f"{root}/labeled/{split}: none of the {len(paths)} images is readable"
        )
    counts = np.bincount(labels[mask], minlength=len(classes))
    logging.info(
        "%s split: %d images (%s), %d skipped",
        split,
        mask.sum(),
        dict(zip(classes, counts.tolist())),
        len(scan.bad),
    )
    return LabeledSplit(
        name=split,
        classes=classes,
        paths=tuple(np.asarray(paths)[mask].tolist()),
        labels=labels[mask],
        patients=tuple(np.asarray(patients)[mask].tolist()),
        skipped=scan.bad,
    )


def load_images(split: LabeledSplit, image_size) -> np.ndarray:
    """Every image of `split` in file order, float32 [N, H, W, 3] in [0, 1]; `image_size`:
    S (H = W = S) or (H, W)."""
    ds = split.dataset(batch_size=64, image_size=image_size)
    return np.concatenate([images.numpy() for images, _ in ds])


def steps_per_epoch(n_examples, batch_size, drop_remainder=True) -> int:
    """Batches in one pass over `n_examples`."""
    return n_examples // batch_size if drop_remainder else -(-n_examples // batch_size)
