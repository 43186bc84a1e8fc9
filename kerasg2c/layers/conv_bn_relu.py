"""3×3 convolution, batch normalisation, ReLU: the unit of the stem and residual blocks."""

import keras


@keras.saving.register_keras_serializable(package="kerasg2c")
class ConvBNReLU(keras.layers.Layer):
    """Conv2D (no bias) → BatchNormalization → ReLU.

    Args:
      filters: output channels.
      kernel_size: square kernel size.
      strides: convolution stride.
      activation: apply the ReLU (False for the last conv of a residual block).
      sync_batchnorm: synchronise batch statistics across replicas, so a
        multi-replica step normalises over the global batch like one device.

    Examples:

    >>> import numpy as np
    >>> layer = ConvBNReLU(8, kernel_size=3, strides=2, sync_batchnorm=False)
    >>> tuple(layer(np.zeros((2, 16, 16, 3), "float32")).shape)
    (2, 8, 8, 8)
    """

    def __init__(
        self, filters, kernel_size=3, strides=1, activation=True, sync_batchnorm=True, **kwargs
    ):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.activation, self.sync_batchnorm = activation, sync_batchnorm
        self.conv = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            name="conv",
        )
        # Momentum 0.9 (PyTorch's default, which the papers used) rather than Keras'
        # 0.99: the moving statistics catch up within tens of steps, not hundreds.
        self.norm = keras.layers.BatchNormalization(
            momentum=0.9, synchronized=sync_batchnorm, name="bn"
        )

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.norm.build(self.conv.compute_output_shape(input_shape))

    def call(self, x, training=None):
        x = self.norm(self.conv(x), training=training)
        return keras.ops.relu(x) if self.activation else x

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "activation": self.activation,
            "sync_batchnorm": self.sync_batchnorm,
        }
