"""The history of generated images shown to a CycleGAN discriminator (Shrivastava et al.
2017, arXiv:1612.07828, §2.3; Zhu et al. 2017, §4), as TensorFlow state only."""

import keras
import tensorflow as tf

from kerasg2c.training import runtime


@keras.saving.register_keras_serializable(package="kerasg2c")
class ImagePool(keras.layers.Layer):
    """Returns, for a batch of new fakes, the batch the discriminator should see.

    Until `size` images have been seen, each new image is stored and returned.
    Afterwards each image, with probability ½, is swapped with a uniformly drawn
    stored one (the old one is returned, the new one takes its slot), else
    returned as is. A batch is processed exactly as the reference's sequential
    loop (an image may get back one stored earlier in the same batch), but in
    one vectorised gather and one scatter, so it compiles under XLA.

    The state is two variables, both non-trainable, `synchronization="on_read"`
    and `aggregation="only_first_replica"`: under a tf.distribute strategy each
    replica keeps and updates its own pool with no cross-replica traffic, while
    checkpoints save the first replica's pool (restored into every replica).
    The random draws are stateless (Philox integers, identical with and without
    XLA), seeded by (seed, images seen, replica id), so a resumed run continues the
    same sequence and replicas differ.

    Build it (or call it once) with the image shape before any XLA step:
    the pool holds `size` images of that shape, in float32.

    Args:
      size: images kept; 0 turns the pool off (the new images are returned).
      seed: integer seed of the draws.

    Examples:

    >>> import numpy as np
    >>> pool = ImagePool(size=4)
    >>> tuple(pool(np.zeros((2, 8, 8, 3), "float32")).shape)
    (2, 8, 8, 3)
    """

    def __init__(self, size=50, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.size, self.seed = size, seed

    def build(self, input_shape):
        if self.size == 0:
            return
        if any(d is None for d in input_shape[1:]):
            raise ValueError(f"{self.name}: needs a fully known image shape, got {input_shape}")
        self.images = keras.Variable(
            "zeros",
            shape=(self.size, *input_shape[1:]),
            dtype="float32",
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
            synchronization="on_read",
            name="images",
        )
        self.seen = keras.Variable(
            "zeros",
            shape=(),
            dtype="int64",
            trainable=False,
            aggregation="only_first_replica",
            synchronization="on_read",
            name="seen",
        )

    def call(self, images):
        if self.size == 0:
            return images
        images = tf.cast(images, tf.float32)
        batch = tf.shape(images, out_type=tf.int64)[0]
        seen = tf.convert_to_tensor(self.seen.value)
        position = seen + tf.range(batch)
        fill = position < self.size
        draws = self._uniform([batch, 2], seen)
        swap = tf.logical_not(fill) & (draws[:, 0] < 0.5)
        drawn = tf.minimum(tf.cast(draws[:, 1] * self.size, tf.int64), self.size - 1)
        slot = tf.where(fill, position, drawn)
        writes = fill | swap
        # same[i, j]: image j writes the slot image i reads.
        same = tf.equal(slot[:, None], slot[None, :]) & writes[None, :]
        order = tf.range(batch)
        before = same & (order[None, :] < order[:, None])
        last_before = tf.reduce_max(tf.where(before, order[None, :], -1), axis=1)
        last_ever = tf.reduce_max(tf.where(same, order[None, :], -1), axis=1)
        pool = tf.convert_to_tensor(self.images.value)
        stored = tf.gather(pool, slot)

        def latest(writer):  # the slot's content after image `writer` wrote it (or before any)
            return tf.where(
                (writer >= 0)[:, None, None, None],
                tf.gather(images, tf.maximum(writer, 0)),
                stored,
            )

        returned = tf.where(swap[:, None, None, None], latest(last_before), images)
        # Every image rewrites its slot with the slot's final content, so
        # duplicate indices carry identical updates.
        self.images.assign(tf.tensor_scatter_nd_update(pool, slot[:, None], latest(last_ever)))
        self.seen.assign_add(batch)
        return returned

    def _uniform(self, shape, seen):
        """Uniform [0, 1) floats from Philox integers: the same bits with and without XLA
        (stateless float draws, and "auto_select" seeds, differ between the two)."""
        seed = runtime.replica_seed(self.seed, seen)
        bits = tf.random.stateless_uniform(
            shape, seed, minval=None, maxval=None, dtype=tf.int64, alg="philox"
        )
        top24 = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits, 40), 0xFFFFFF)
        return tf.cast(top24, tf.float32) / float(1 << 24)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "seed": self.seed}
