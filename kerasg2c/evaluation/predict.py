"""Runs a trained model over an evaluation dataset."""

import numpy as np
import tensorflow as tf


def predict_logits(model, dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
  """Returns (logits [N, C], labels [N]) for a dataset of (images, labels) batches."""
  forward = tf.function(lambda x: model(x, training=False))
  logits, labels = [], []
  for images, y in dataset:
    logits.append(forward(images).numpy())
    labels.append(y.numpy())
  return np.concatenate(logits), np.concatenate(labels)
