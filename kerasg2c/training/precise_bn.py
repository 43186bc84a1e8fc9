"""Precise batch-norm statistics (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021;
the PreciseBN of pycls and Detectron2).

Inference normalises with moving averages that trail the weights; after few steps (scarce
labels, short runs) they still describe the early network, and a model whose training
loss fell can predict one class for everything. `PreciseBatchNorm` replaces every
batch-norm layer's moving mean and variance by the average, over fixed batches, of the
batch mean and variance the layer sees in training mode (`recompute`); `disagreement`
measures how often inference mode and batch statistics give different
classes.

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


class PreciseBatchNorm:
    """Recomputes and checks the batch-norm statistics of `model` under `strategy`.

    The two replica steps are traced once (on first use) and reused: a layer's momentum
    is read when a step is traced, so each step keeps the momentum it was traced with.
    """

    def __init__(self, model, strategy):
        self.model, self.strategy = model, strategy
        self.layers = batch_norm_layers(model)
        self._recompute_step = self._distributed(self._recompute_replica)
        self._compare_step = self._distributed(self._compare_replica)

    def recompute(self, dataset: tf.data.Dataset) -> int:
        """Sets each layer's moving mean and variance to the average over the batches of
        `dataset` ((images, labels), global batches) of its training-mode batch mean and
        (biased) variance; returns the number of batches (0: nothing changed)."""
        if not self.layers:
            return 0
        variables = [v for layer in self.layers for v in (layer.moving_mean, layer.moving_variance)]
        sums = [np.zeros(v.shape, np.float64) for v in variables]
        n = 0
        with _momentum(self.layers, 0.0):  # moving statistics := the batch's
            for _ in self._run(self._recompute_step, dataset):
                for total, v in zip(sums, variables):
                    total += v.numpy()
                n += 1
        if n:
            for total, v in zip(sums, variables):
                v.assign((total / n).astype(v.dtype))
        return n

    def disagreement(self, dataset: tf.data.Dataset) -> float | None:
        """The fraction of examples of `dataset` whose predicted class differs between
        inference mode (moving statistics) and training mode (the batch's statistics);
        the moving statistics are left as they are. None when `dataset` has no batch."""
        differ = total = 0.0
        with _momentum(self.layers, 1.0):  # moving statistics unchanged
            for d, n in self._run(self._compare_step, dataset):
                differ, total = differ + float(d), total + float(n)
        return differ / total if total else None

    def _recompute_replica(self, images):
        self.model(images, training=True)
        return (tf.constant(0.0),)

    def _compare_replica(self, images):
        inference = tf.argmax(self.model(images, training=False), -1)
        batch = tf.argmax(self.model(images, training=True), -1)
        differ = tf.reduce_sum(tf.cast(tf.not_equal(inference, batch), tf.float32))
        return differ, tf.cast(tf.shape(images)[0], tf.float32)

    def _distributed(self, replica_fn):
        strategy = self.strategy

        @tf.function
        def step(images):
            values = strategy.run(replica_fn, args=(images,))
            return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in values]

        return step

    def _run(self, step, dataset):
        """Yields what `step` returns (summed over replicas) for each batch of images."""
        images = dataset.map(lambda x, *_: x)
        for batch in self.strategy.experimental_distribute_dataset(images):
            yield [v.numpy() for v in step(batch)]
