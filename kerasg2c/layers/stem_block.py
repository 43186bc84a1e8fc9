"""Stem block replacing ResNet's 7×7 first convolution (G2C papers §Classifier;
Szegedy et al. 2017, Inception-v4)."""

import keras

from kerasg2c.layers.conv_bn_relu import ConvBNReLU


@keras.saving.register_keras_serializable(package="kerasg2c")
class StemBlock(keras.layers.Layer):
    """Three 3×3 conv blocks (the first with stride 2) then 2×2 max-pooling.

    Reduces the resolution by 4, as ResNet's 7×7/2 conv + pool does; the G2C
    papers report this stem improves accuracy by more than 1 %.

    Args:
      filters: width of the last conv; the first two use half of it.
      sync_batchnorm: see `ConvBNReLU`.

    Examples:

    >>> import numpy as np
    >>> stem = StemBlock(8, sync_batchnorm=False)
    >>> tuple(stem(np.zeros((2, 32, 32, 3), "float32")).shape)
    (2, 8, 8, 8)
    """

    def __init__(self, filters, sync_batchnorm=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.sync_batchnorm = filters, sync_batchnorm
        half = max(filters // 2, 1)
        self.convs = [
            ConvBNReLU(half, strides=2, sync_batchnorm=sync_batchnorm, name="conv1"),
            ConvBNReLU(half, sync_batchnorm=sync_batchnorm, name="conv2"),
            ConvBNReLU(filters, sync_batchnorm=sync_batchnorm, name="conv3"),
        ]
        self.pool = keras.layers.MaxPooling2D(2, name="pool")

    def build(self, input_shape):
        for conv in self.convs:
            conv.build(input_shape)
            input_shape = conv.compute_output_shape(input_shape)

    def call(self, x, training=None):
        for conv in self.convs:
            x = conv(x, training=training)
        return self.pool(x)

    def compute_output_shape(self, input_shape):
        for conv in self.convs:
            input_shape = conv.compute_output_shape(input_shape)
        return self.pool.compute_output_shape(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "sync_batchnorm": self.sync_batchnorm,
        }
