"""The examples of one split as a tf.data source of (key, label), with their image cache.

`ImageSource` holds the keys (file paths, or encoded image bytes for TFDS) in a fixed order
and, per image size, the in-memory `cache()` of the decoded, resized uint8 images, so that
the cache outlives the per-epoch datasets built on it. Images are resized (bilinear,
antialiased) to image_size × image_size, or to height × width when image_size is a
(height, width) pair (`image_shape`).
"""

import numpy as np
import tensorflow as tf

from kerasg2c.data import decode

AUTOTUNE = tf.data.AUTOTUNE


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
