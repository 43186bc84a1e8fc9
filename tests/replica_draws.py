"""One device's random draws and batches on two replicas, for the tests that train a GAN
on one device and on two (virtual CPU) replicas and require the same result. They run in
a fresh process that has split the CPU (`runtime.split_cpu(2)`) and put tests/ on its path.

A GAN draws its noise, codes and the penalty's ε per replica by design (its seeds fold in
the replica id): `draw_as_one_device` patches the draws to be the global batch's draw, of
which each replica keeps its rows. The loop gives replica r the r-th part of the global
batch and `train_step` splits that into n_critic sub-batches, so on two replicas a critic
update would see other real images than on one device (a permutation of the step's
images, harmless): `one_device_order` reorders the data so that replica r gets the r-th
part of each one-device sub-batch. What is left is what must agree: loss scaling by the
global batch, gradient and log reduction, synchronised batch norm, the optimizers and the
step counter."""

import numpy as np
import tensorflow as tf


def replica_0_seed(self, *values):
    """The model's `_seed` as replica 0 (and one device) computes it, on every replica."""
    seed = tf.constant([self.seed, 0], tf.int64)
    for value in (*values, 0):
        value = tf.cast(value, tf.int64)
        seed = tf.random.experimental.stateless_fold_in(seed, value, alg="philox")
    return seed


def global_draw(draw):
    """`draw(shape, seed)` for the global batch; replica r keeps rows r·b … (r + 1)·b − 1."""

    def wrapped(shape, seed, *args, **kwargs):
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return draw(shape, seed, *args, **kwargs)
        n, r = context.num_replicas_in_sync, context.replica_id_in_sync_group
        local = shape[0]
        return draw([local * n, *shape[1:]], seed, *args, **kwargs)[r * local : (r + 1) * local]

    return wrapped


def draw_as_one_device(model_class):
    """Patches `model_class._seed` and TensorFlow's stateless normal and uniform draws so
    that every replica draws as one device does.

    Args:
        model_class: the GAN class whose `_seed(*values)` folds in the replica id.
    """
    model_class._seed = replica_0_seed
    tf.random.stateless_normal = global_draw(tf.random.stateless_normal)
    tf.random.stateless_uniform = global_draw(tf.random.stateless_uniform)


def one_device_order(batch: int, n_critic: int, steps: int, replicas: int = 2) -> np.ndarray:
    """Indices that reorder `steps` × `n_critic` × `batch` examples so that replica r's part
    of each global batch is the r-th part of each of its one-device sub-batches.

    Args:
        batch: the examples of one critic update on one device.
        n_critic: the critic updates (sub-batches) of a step.
        steps: the steps.
        replicas: the replicas.

    Examples:
        >>> one_device_order(batch=2, n_critic=2, steps=1).tolist()
        [0, 2, 1, 3]
    """
    part = batch // replicas
    order = [
        k * batch + r * part + j
        for r in range(replicas)
        for k in range(n_critic)
        for j in range(part)
    ]
    return np.concatenate([s * n_critic * batch + np.array(order) for s in range(steps)])
