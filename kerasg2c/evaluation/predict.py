"""Runs a trained model over an evaluation dataset."""

import numpy as np
import tensorflow as tf

from kerasg2c.data import image_source


class Predictor:
    """Inference-mode forward pass of `model`, traced once for any batch size.

    Args:
      model: a built Keras model taking [B, H, W, C] images (C: its `input_channels`, 3
        when it has none).
      image_size: S (H = W = S) or (H, W).
    """

    def __init__(self, model, image_size):
        channels = getattr(model, "input_channels", 3)
        height, width = image_source.image_shape(image_size)
        self.forward = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32)],
        )

    def logits(self, dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
        """Returns (logits [N, C], labels [N]) for a dataset of (images, labels) batches."""
        logits, labels = [], []
        for images, y in dataset:
            logits.append(self.forward(images).numpy())
            labels.append(y.numpy())
        return np.concatenate(logits), np.concatenate(labels)
