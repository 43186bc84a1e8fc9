"""The residual block of the CycleGAN ResNet generator (Johnson et al. 2016; Zhu et al. 2017)."""

import keras

from kerasg2c.layers.instance_norm import InstanceNormalization
from kerasg2c.layers.reflection_padding import ReflectionPadding2D
from kerasg2c.layers.stack import build_stack

PADDINGS = ("reflect", "zero")


def conv_initializer():
    """N(0, 0.02), the reference CycleGAN's `init_type='normal'`."""
    return keras.initializers.RandomNormal(stddev=0.02)


def spatial_padding(padding, amount, name):
    """A reflection (reference CycleGAN) or zero (IHC Table 2, p=…) padding layer."""
    if padding not in PADDINGS:
        raise ValueError(f"padding={padding!r}: expected one of {PADDINGS}")
    if padding == "reflect":
        return ReflectionPadding2D(amount, name=name)
    return keras.layers.ZeroPadding2D(amount, name=name)


@keras.saving.register_keras_serializable(package="kerasg2c")
class GeneratorResidualBlock(keras.layers.Layer):
    """y = x + IN(conv(pad(ReLU(IN(conv(pad(x))))))), resolution and width kept.

    Padding of 1 before each biased 3×3 convolution; no activation after the
    sum (as the reference `ResnetBlock`, without dropout).

    Args:
      filters: channels in and out.
      padding: "reflect" (the reference) or "zero" (IHC Table 2).

    Examples:

    >>> import numpy as np
    >>> block = GeneratorResidualBlock(8)
    >>> tuple(block(np.zeros((2, 8, 8, 8), "float32")).shape)
    (2, 8, 8, 8)
    """

    def __init__(self, filters, padding="reflect", **kwargs):
        super().__init__(**kwargs)
        self.filters, self.padding = filters, padding
        self.body = [
            spatial_padding(padding, 1, "pad1"),
            keras.layers.Conv2D(filters, 3, kernel_initializer=conv_initializer(), name="conv1"),
            InstanceNormalization(name="norm1"),
            keras.layers.ReLU(name="relu1"),
            spatial_padding(padding, 1, "pad2"),
            keras.layers.Conv2D(filters, 3, kernel_initializer=conv_initializer(), name="conv2"),
            InstanceNormalization(name="norm2"),
        ]

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(
                f"{self.name}: input has {input_shape[-1]} channels, the block {self.filters}"
            )
        build_stack(self.body, input_shape)

    def call(self, x):
        y = x
        for layer in self.body:
            y = layer(y)
        return x + y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "padding": self.padding}
