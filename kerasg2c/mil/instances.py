"""Tiles cut into a grid of instances, and every instance scored by the classifier in
inference mode, batched and distributed over the strategy (the evaluation step of top-1
MIL: "a classifier evaluates all small patches from this large patch", IHC paper).

Tiles stream from their files through tf.data (`tile_dataset`, `instance_dataset`): no split is
held in memory, only the tiles in flight."""

import numpy as np
import tensorflow as tf

from kerasg2c.data import epochs, image_source

TUMOUR = 1  # the class whose probability is an instance's score
AUTOTUNE = tf.data.AUTOTUNE


def grid_side(tile_size: int, instance_size: int) -> int:
    """Instances along each side of a tile; raises ValueError unless they tile it."""
    if instance_size <= 0 or tile_size % instance_size:
        raise ValueError(f"instance_size={instance_size} must divide the tile size {tile_size}")
    return tile_size // instance_size


def cut(tiles, instance_size: int) -> tf.Tensor:
    """[T, S, S, C] tiles → [T, g·g, s, s, C] instances, row-major over the grid."""
    tiles = tf.convert_to_tensor(tiles)
    g, s, channels = grid_side(tiles.shape[1], instance_size), instance_size, tiles.shape[-1]
    grid = tf.transpose(tf.reshape(tiles, (-1, g, s, g, s, channels)), (0, 1, 3, 2, 4, 5))
    return tf.reshape(grid, (-1, g * g, s, s, channels))


def instance(tiles, tile_index, instance_index, instance_size: int) -> tf.Tensor:
    """The instances (tile_index[i], instance_index[i]) of `tiles`, [N, s, s, C]; copies
    only their rows of pixels."""
    tiles = tf.convert_to_tensor(tiles)
    g, s = grid_side(tiles.shape[1], instance_size), instance_size
    tile_index = tf.cast(tile_index, tf.int32)
    instance_index = tf.cast(instance_index, tf.int32)
    offsets = tf.range(s)
    ys = (instance_index // g * s)[:, None] + offsets  # [N, s]
    xs = (instance_index % g * s)[:, None] + offsets
    rows = tf.gather_nd(
        tiles, tf.stack([tf.broadcast_to(tile_index[:, None], tf.shape(ys)), ys], -1)
    )
    return tf.gather(rows, xs, axis=2, batch_dims=1)


def tile_dataset(split, image_size) -> tf.data.Dataset:
    """The tiles of `split` in file order, float32 [S, S, 3] in [0, 1], decoded and resized
    from their files as `pipeline.load_images` does, none cached."""
    elements = epochs.epoch_elements(
        split.source, image_size=image_size, cache=False, value_range="unit"
    )
    return elements.map(lambda tile, label: tile)


def instance_dataset(paths, rows, image_size, instance_size: int, skip=0) -> tf.data.Dataset:
    """(float32 [s, s, 3] instance, int32 label) per row (tile, instance, label) of `rows`,
    in their order: only the row's tile is read from `paths[tile]` (decoded and resized as
    `pipeline.load_images` does) and its instance cut out. The first `skip` rows are
    skipped undecoded."""
    rows = np.asarray(rows, np.int64)
    source = image_source.ImageSource.from_files([paths[t] for t in rows[:, 0]], rows[:, 2])
    elements = epochs.epoch_elements(
        source, image_size=image_size, cache=False, value_range="unit", skip=skip
    )
    picks = tf.data.Dataset.from_tensor_slices(rows[skip:, 1])

    def crop(element, pick):
        tile, label = element
        return instance(tile[None], [0], pick[None], instance_size)[0], label

    both = tf.data.Dataset.zip(elements, picks)
    return both.map(crop, num_parallel_calls=AUTOTUNE, deterministic=True)


class Scorer:
    """Tumour probability of every instance of every tile, float32 [T, g·g]:
    `scorer(tiles)`, `tiles` a dataset of [S, S, 3] tiles (`tile_dataset`).

    Each tile is cut into its instances inside tf.data; they go through
    `strategy.experimental_distribute_dataset` in global batches of `batch_size` and
    `model(x, training=False)` on every replica; each carries its flat index, so the
    scores gathered from all replicas (and workers) land in place whatever order the
    sharding gives them. One traced step serves every call."""

    def __init__(self, model, strategy, instance_size: int, batch_size: int):
        self.strategy, self.instance_size, self.batch_size = strategy, instance_size, batch_size

        def replica(index, images):
            probabilities = tf.nn.softmax(tf.cast(model(images, training=False), tf.float32))
            return index, probabilities[:, TUMOUR]

        @tf.function(reduce_retracing=True)
        def step(batch):
            index, prob = strategy.run(replica, args=batch)
            return strategy.gather(index, axis=0), strategy.gather(prob, axis=0)

        self._step = step

    def __call__(self, tiles) -> np.ndarray:
        k = grid_side(tiles.element_spec.shape[0], self.instance_size) ** 2

        def tile_instances(t, tile):
            return t * k + tf.range(k, dtype=tf.int64), cut(tile[None], self.instance_size)[0]

        ds = tiles.enumerate().map(tile_instances, num_parallel_calls=AUTOTUNE, deterministic=True)
        options = tf.data.Options()
        policy = tf.data.experimental.AutoShardPolicy.DATA
        options.experimental_distribute.auto_shard_policy = policy
        ds = ds.unbatch().batch(self.batch_size).prefetch(AUTOTUNE).with_options(options)
        indices, probabilities = [], []
        for batch in self.strategy.experimental_distribute_dataset(ds):
            index, prob = self._step(batch)
            indices.append(index.numpy())
            probabilities.append(prob.numpy())
        index = np.concatenate(indices)
        scores = np.full(len(index), np.nan, np.float32)
        scores[index] = np.concatenate(probabilities)
        return scores.reshape(-1, k)
