"""Precise batch-norm statistics (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021;
the PreciseBN of pycls and Detectron2).

Inference normalises with moving averages that trail the weights; after few steps (scarce
labels, short runs) they still describe the early network, and a model whose training
loss fell can predict one class for everything. `recompute_statistics` replaces every
batch-norm layer's moving mean and variance by the average, over fixed batches, of the
batch mean and variance the layer sees in training mode. `disagreement` measures how
often inference mode and batch statistics give different classes.

Both run the model under the strategy (synchronised batch norm all-reduces as in
training) and change no weight but the moving statistics.
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf


def batch_norm_layers(model) -> list:
    """Every BatchNormalization layer inside `model`, nested ones included."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


@contextlib.contextmanager
def _momentum(layers, momentum: float):
    """Sets the layers' momentum while a pass runs (0: the moving statistics become the
    batch's; 1: they stay as they are)."""
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = momentum
    try:
        yield
    finally:
        for layer, value in zip(layers, saved):
            layer.momentum = value


def _per_batch(strategy, dataset, replica_fn):
    """Runs `replica_fn(images)` on every batch of `dataset` under `strategy`; yields the
    SUM over replicas of what it returns (a tuple of scalars) per batch."""
    images_only = dataset.map(lambda images, *_: images)

    @tf.function
    def step(images):
        values = strategy.run(replica_fn, args=(images,))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in values]

    for images in strategy.experimental_distribute_dataset(images_only):
        yield [v.numpy() for v in step(images)]


def recompute_statistics(model, dataset: tf.data.Dataset, strategy) -> int:
    """Sets each batch-norm layer's moving mean and variance to the average over the
    batches of `dataset` ((images, labels), global batches) of its training-mode batch
    mean and (biased) variance; returns the number of batches (0: nothing changed)."""
    layers = batch_norm_layers(model)
    if not layers:
        return 0

    def replica(images):
        model(images, training=True)  # momentum 0: moving statistics := the batch's
        return (tf.constant(0.0),)

    sums = [np.zeros(v.shape, np.float64) for layer in layers for v in _statistics(layer)]
    n = 0
    with _momentum(layers, 0.0):
        for _ in _per_batch(strategy, dataset, replica):
            statistics = [v for layer in layers for v in _statistics(layer)]
            for total, v in zip(sums, statistics):
                total += v.numpy()
            n += 1
    if n:
        for total, v in zip(sums, [v for layer in layers for v in _statistics(layer)]):
            v.assign((total / n).astype(v.dtype))
    return n


def disagreement(model, dataset: tf.data.Dataset, strategy) -> float | None:
    """The fraction of examples of `dataset` whose predicted class differs between
    inference mode (moving statistics) and training mode (the batch's statistics); the
    moving statistics are left as they are. None when `dataset` has no batch."""
    layers = batch_norm_layers(model)

    def replica(images):
        inference = tf.argmax(model(images, training=False), -1)
        batch = tf.argmax(model(images, training=True), -1)
        differ = tf.reduce_sum(tf.cast(tf.not_equal(inference, batch), tf.float32))
        return differ, tf.cast(tf.shape(images)[0], tf.float32)

    differ = total = 0.0
    with _momentum(layers, 1.0):
        for d, n in _per_batch(strategy, dataset, replica):
            differ, total = differ + float(d), total + float(n)
    return differ / total if total else None


def _statistics(layer):
    return layer.moving_mean, layer.moving_variance
