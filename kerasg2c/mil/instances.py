"""Tiles cut into a grid of instances, and every instance scored by the classifier in
inference mode, batched and distributed over the strategy (the evaluation step of top-1
MIL: "a classifier evaluates all small patches from this large patch", IHC paper)."""

import numpy as np
import tensorflow as tf

TUMOUR = 1  # the class whose probability is an instance's score


def grid_side(tile_size: int, instance_size: int) -> int:
    """Instances along each side of a tile; raises ValueError unless they tile it."""
    if instance_size <= 0 or tile_size % instance_size:
        raise ValueError(f"instance_size={instance_size} must divide the tile size {tile_size}")
    return tile_size // instance_size


def cut(tiles, instance_size: int) -> np.ndarray:
    """[T, S, S, C] tiles → [T, g·g, s, s, C] instances, row-major over the grid."""
    t, size, _, channels = tiles.shape
    g = grid_side(size, instance_size)
    s = instance_size
    grid = np.reshape(tiles, (t, g, s, g, s, channels)).transpose(0, 1, 3, 2, 4, 5)
    return grid.reshape(t, g * g, s, s, channels)


def instance(tiles, tile_index, instance_index, instance_size: int):
    """The instances (tile_index[i], instance_index[i]) of `tiles`, [N, s, s, C]."""
    g = grid_side(tiles.shape[1], instance_size)
    rows, cols = np.divmod(np.asarray(instance_index), g)
    s = instance_size
    return np.stack(
        [
            tiles[t, r * s : (r + 1) * s, c * s : (c + 1) * s]
            for t, r, c in zip(tile_index, rows, cols)
        ]
    )


class Scorer:
    """Tumour probability of every instance of every tile, float32 [T, g·g]: `scorer(tiles)`.

    The instances go through `strategy.experimental_distribute_dataset` in global batches
    of `batch_size` and `model(x, training=False)` on every replica; each carries its
    flat index, so the scores gathered from all replicas (and workers) land in place
    whatever order the sharding gives them. One traced step serves every call."""

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
        pieces = cut(tiles, self.instance_size)
        t, k = pieces.shape[:2]
        flat = pieces.reshape(t * k, *pieces.shape[2:])
        ds = tf.data.Dataset.from_tensor_slices((np.arange(t * k, dtype=np.int64), flat))
        options = tf.data.Options()
        policy = tf.data.experimental.AutoShardPolicy.DATA
        options.experimental_distribute.auto_shard_policy = policy
        ds = ds.batch(self.batch_size).with_options(options)
        scores = np.full(t * k, np.nan, np.float32)
        for batch in self.strategy.experimental_distribute_dataset(ds):
            index, prob = self._step(batch)
            scores[index.numpy()] = prob.numpy()
        return scores.reshape(t, k)
