"""The image pool of past generated images that CycleGAN's discriminators see: new images
until it is full, then a mix; a batch processed as the sequential reference, under XLA as
in graph mode; its config round trip."""

import numpy as np
import tensorflow as tf

from kerasg2c.models.image_pool import ImagePool


def _batch(values):
    return np.asarray(values, "float32").reshape(-1, 1, 1, 1)


def test_pool_returns_new_images_until_full_then_a_mix():
    pool = ImagePool(4)
    assert pool(_batch([1, 2])).numpy().ravel().tolist() == [1, 2]
    assert pool(_batch([3, 4])).numpy().ravel().tolist() == [3, 4]
    new = old = 0
    for step in range(3, 60):
        values = [2 * step - 1, 2 * step]
        out = pool(_batch(values)).numpy().ravel()
        for v, o in zip(values, out):
            assert o <= v, "the new image or one seen before it (this batch included)"
            new, old = new + (o == v), old + (o != v)
        assert set(pool.images.numpy().ravel()) <= set(range(1, 2 * step + 1))
    assert 0.35 < old / (old + new) < 0.65


def test_pool_processes_a_batch_as_the_sequential_reference():
    # One slot: every swap exchanges with whatever the previous swap stored.
    pool = ImagePool(1, seed=3)
    pool(_batch([0]))
    content = 0.0
    for step in range(1, 6):
        values = np.arange(8) + 10.0 * step
        out = pool(_batch(values)).numpy().ravel()
        for v, o in zip(values, out):
            if o != v:  # swapped: got the slot's content, left itself there
                assert o == content
                content = v
        assert pool.images.numpy().ravel().tolist() == [content]


def test_pool_under_xla_matches_graph_mode():
    results = []
    for jit in (False, True):
        pool = ImagePool(4, seed=5)
        pool.build((None, 2, 2, 1))
        query = tf.function(pool.call, jit_compile=jit)
        results.append([query(tf.fill((2, 2, 2, 1), float(s))).numpy() for s in range(8)])
    np.testing.assert_array_equal(results[0], results[1])  # Philox bits in both
    flat = np.array(results[1])[:, :, 0, 0, 0]
    assert (flat[:2] == [[0, 0], [1, 1]]).all()  # filling
    assert (flat[2:] < np.arange(2, 8)[:, None]).any()  # old images come back


def test_image_pool_config_round_trip():
    pool = ImagePool(7, seed=3, name="p")
    clone = ImagePool.from_config(pool.get_config())
    assert (clone.size, clone.seed, clone.name) == (7, 3, "p")
