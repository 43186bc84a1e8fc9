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
Cached or not, batches are bitwise equal.
"""

import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

from kerasg2c import errors
from kerasg2c.data import decode, layout

AUTOTUNE = tf.data.AUTOTUNE
BRIGHTNESS_DELTA = 0.1  # brightness jitter: + U(-0.1, 0.1) in [0, 1] units
SATURATION_RANGE = (0.8, 1.2)  # saturation jitter: × U(0.8, 1.2)
VALUE_RANGES = ("unit", "symmetric")  # [0, 1] (classifiers), [-1, 1] (GANs)


class ImageSource:
    """The examples of one split in a fixed order, as a dataset of (key, int32 label).

    `decode(key)` turns a key into float32 [H, W, 3] in [0, 1]; a key is a file path
    (folders) or encoded image bytes (TFDS). Holds the in-memory cache of resized images
    per image size (S or (H, W), `image_shape`), so that it outlives the per-epoch datasets
    built on it.
    """

    def __init__(self, keys: tf.data.Dataset, decode_fn, length: int):
        self.keys = keys
        self.decode_fn = decode_fn
        self.length = length
        self._cached = {}

    @classmethod
    def from_files(cls, paths, labels=None, views=()):
        """Source over image files (labels 0 when not given); with `views` (K more files
        per image) each image is its file and its views stacked on channels, [H, W, 3(1+K)]."""
        labels = np.asarray(np.zeros(len(paths)) if labels is None else labels, np.int32)
        if views:
            keys = [[p, *v] for p, v in zip(paths, views)]
            ds = tf.data.Dataset.from_tensor_slices((keys, labels))
            return cls(ds, decode.decode_views, len(paths))
        keys = tf.data.Dataset.from_tensor_slices((list(paths), labels))
        return cls(keys, decode.decode_image, len(paths))

    def subset(self, indices) -> "ImageSource":
        """The examples at `indices` (strictly increasing), in that order: the keys filtered
        by position, read no further than the last one (for keys that are not files, e.g.
        TFDS's encoded images, which cannot be listed again)."""
        indices = np.asarray(indices, np.int64)
        if len(indices) and (
            np.any(np.diff(indices) <= 0) or indices[0] < 0 or indices[-1] >= self.length
        ):
            raise ValueError(
                f"subset of a source of {self.length} examples: indices must be strictly "
                "increasing positions in it"
            )
        keep = np.zeros(self.length, bool)
        keep[indices] = True
        mask = tf.constant(keep)
        stop = int(indices[-1]) + 1 if len(indices) else 0
        keys = (
            self.keys.take(stop)
            .enumerate()
            .filter(lambda i, element: mask[i])
            .map(lambda i, element: element)
        )
        return ImageSource(keys, self.decode_fn, len(indices))

    def loader(self, image_size):
        """(key, label) -> (uint8 [H, W, 3] image, label); (H, W) = `image_shape(image_size)`."""
        shape = list(image_shape(image_size))

        def load(key, label):
            image = tf.image.resize(self.decode_fn(key), shape, antialias=True)
            return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0), tf.uint8), label

        return load

    def base(self, image_size, cache):
        """(x, label) in source order: x is a resized uint8 image if cached, else a key."""
        if not cache:
            return self.keys
        shape = image_shape(image_size)  # S and (S, S) share one cache
        if shape not in self._cached:
            loaded = self.keys.map(
                self.loader(shape), num_parallel_calls=AUTOTUNE, deterministic=True
            )
            self._cached[shape] = loaded.cache()
        return self._cached[shape]


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


def image_shape(image_size) -> tuple[int, int]:
    """(H, W) of an image size given as S (square) or as a (H, W) pair."""
    if isinstance(image_size, (tuple, list)):
        height, width = image_size
        return int(height), int(width)
    return int(image_size), int(image_size)


def fits_in_memory(n_examples, image_size, budget_bytes) -> bool:
    """Whether the uint8 cache of `n_examples` RGB images of `image_size` (S or (H, W))
    fits in `budget_bytes`."""
    height, width = image_shape(image_size)
    return n_examples * height * width * 3 <= budget_bytes


def augment_image(image, seed):
    """Random flips (horizontal, vertical), brightness and saturation jitter.

    Args:
      image: float32 [H, W, 3K] in [0, 1] (K stain views of one patch: the same draws).
      seed: int [2]; the result is a pure function of (image, seed).

    Returns:
      float32 [H, W, 3K] in [0, 1].
    """
    # Keras RandomFlip/RandomBrightness/RandomSaturation accept only an int or a
    # SeedGenerator (a variable whose draws depend on call order, which parallel map does
    # not fix and a resumed run cannot restore), not a per-element seed tensor: so the
    # stateless tf.image ops.
    flip_lr, flip_ud, brightness, saturation = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4)
    )
    image = tf.image.stateless_random_flip_left_right(image, flip_lr)
    image = tf.image.stateless_random_flip_up_down(image, flip_ud)
    image = tf.image.stateless_random_brightness(image, BRIGHTNESS_DELTA, brightness)
    image = tf.clip_by_value(image, 0.0, 1.0)
    # Stacked stain views (3K channels): each RGB triple gets the same saturation factor.
    rgb = [image[..., c : c + 3] for c in range(0, image.shape[-1], 3)]
    rgb = [tf.image.stateless_random_saturation(x, *SATURATION_RANGE, saturation) for x in rgb]
    return tf.clip_by_value(tf.concat(rgb, -1) if len(rgb) > 1 else rgb[0], 0.0, 1.0)


def epoch_elements(
    source,
    *,
    image_size,
    cache,
    value_range,
    shuffle_seed=None,
    length=None,
    skip=0,
    augment_seed=None,
):
    """The (image, label) elements of one epoch, ready to batch.

    Args:
      source: an ImageSource.
      image_size, cache, value_range: as in `LabeledSplit.dataset`.
      shuffle_seed: seed of the epoch's permutation; None keeps source order.
      length: repeat the source up to this many elements, each pass in a new order (a
        function of `shuffle_seed` and the pass) when shuffled; None: one pass.
      skip: elements to skip, before any decoding or augmentation.
      augment_seed: [2] ints; element i is augmented with this seed folded with i. None:
        no augmentation.
    """
    ds = source.base(image_size, cache)
    if shuffle_seed is not None:
        # Repeated, each pass draws its own order: tf.data derives pass p's from the seed.
        again = length is not None and length > source.length
        ds = ds.shuffle(source.length, seed=shuffle_seed, reshuffle_each_iteration=again)
    if length is not None:
        ds = ds.repeat().take(length)
    load = None if cache else source.loader(image_size)
    seed = None if augment_seed is None else tf.constant(augment_seed, tf.int64)

    def prepare(position, element):
        x, label = element if load is None else load(*element)
        image = tf.cast(x, tf.float32) / 255.0
        if seed is not None:
            image = augment_image(image, tf.random.experimental.stateless_fold_in(seed, position))
        return (image * 2.0 - 1.0 if value_range == "symmetric" else image), label

    return ds.enumerate().skip(skip).map(prepare, num_parallel_calls=AUTOTUNE, deterministic=True)


def shuffle_seed(seed, epoch, stream=0):
    """A 31-bit shuffle seed, a pure function of (seed, epoch, stream)."""
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1)[0] >> 1)


def _check_value_range(value_range):
    if value_range not in VALUE_RANGES:
        raise ValueError(f"value_range must be one of {VALUE_RANGES}, got {value_range!r}")
