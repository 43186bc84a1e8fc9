"""One epoch of a source's elements: a seeded order, a skip for resuming, augmentation.

Every epoch is a pure function of (seed, epoch): the order is a tf.data shuffle seeded
from `shuffle_seed(seed, epoch)` (repeated up to a length, each pass reshuffled from that
seed), and the augmentation (`augment_image`: flips, brightness and saturation jitter) of
the element at position i is seeded from (seed, epoch, i). Skipped elements are neither
decoded nor augmented.
"""

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
BRIGHTNESS_DELTA = 0.1  # brightness jitter: + U(-0.1, 0.1) in [0, 1] units
SATURATION_RANGE = (0.8, 1.2)  # saturation jitter: × U(0.8, 1.2)
VALUE_RANGES = ("unit", "symmetric")  # [0, 1] (classifiers), [-1, 1] (GANs)


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
