"""ResNet basic residual block (He et al. 2016) with batch normalisation."""

import keras

from kerasg2c.layers.conv_bn_relu import ConvBNReLU


@keras.saving.register_keras_serializable(package="kerasg2c")
class ResidualBlock(keras.layers.Layer):
    """y = ReLU(x' + BN(conv(ReLU(BN(conv(x)))))), x' = x or a 1×1 projection.

    The projection appears only when the width changes, so blocks inside a
    down-sampling unit keep resolution and width.

    Args:
      filters: output channels.
      sync_batchnorm: see `ConvBNReLU`.

    Examples:

    >>> import numpy as np
    >>> block = ResidualBlock(8, sync_batchnorm=False)
    >>> tuple(block(np.zeros((2, 8, 8, 8), "float32")).shape)
    (2, 8, 8, 8)
    """

    def __init__(self, filters, sync_batchnorm=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.sync_batchnorm = filters, sync_batchnorm
        self.conv1 = ConvBNReLU(filters, sync_batchnorm=sync_batchnorm, name="conv1")
        self.conv2 = ConvBNReLU(
            filters, activation=False, sync_batchnorm=sync_batchnorm, name="conv2"
        )
        self.projection = None

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            self.projection = ConvBNReLU(
                self.filters,
                kernel_size=1,
                activation=False,
                sync_batchnorm=self.sync_batchnorm,
                name="projection",
            )
            self.projection.build(input_shape)
        self.conv1.build(input_shape)
        self.conv2.build(self.conv1.compute_output_shape(input_shape))

    def call(self, x, training=None):
        shortcut = x if self.projection is None else self.projection(x, training=training)
        y = self.conv2(self.conv1(x, training=training), training=training)
        return keras.ops.relu(shortcut + y)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "sync_batchnorm": self.sync_batchnorm,
        }
