"""The CycleGAN ResNet generator (Johnson et al. 2016; Zhu et al. 2017, arXiv:1703.10593)
as used by G2C (arXiv G2C: 9 blocks; AAAI G2C: 6 blocks, deconv k=4) and the IHC paper
(Table 2: deconv k=3, output padding 1)."""

import keras

from kerasg2c.layers.generator_block import (
    GeneratorResidualBlock,
    conv_initializer,
    spatial_padding,
)
from kerasg2c.layers.instance_norm import InstanceNormalization
from kerasg2c.layers.stack import build_stack

UPSAMPLING = {"deconv3": 3, "deconv4": 4}


@keras.saving.register_keras_serializable(package="kerasg2c")
class ResnetGenerator(keras.Model):
    """Image (+ condition channels) in [-1, 1] → image in (-1, 1), same height and width.

    c7s1-ngf, d(2·ngf), d(4·ngf), n_blocks × R(4·ngf), u(2·ngf), u(ngf), c7s1-out, tanh:
    every convolution is biased and followed by instance normalisation without
    affine parameters (the reference `ResnetGenerator` with `--norm instance`),
    weights drawn from N(0, 0.02). Down-sampling convs are 3×3, stride 2, zero
    padding 1; up-sampling is a transposed conv, stride 2, cropped exactly as
    PyTorch's `padding=1` (+ `output_padding=1` for k=3), so weights ported from
    the reference give the same outputs. Height and width must be multiples of 4.

    Args:
      ngf: width of the first layer.
      n_blocks: residual blocks at 1/4 resolution (9 in CycleGAN at 256², 6 in AAAI G2C).
      upsampling: "deconv3" (k=3, output padding 1: IHC Table 2, the reference)
        or "deconv4" (k=4, AAAI G2C).
      output_channels: channels of the generated image.
      padding: of the 7×7 and residual 3×3 convs: "reflect" (the reference CycleGAN,
        G2C) or "zero" (IHC Table 2 lists `p=3`/`p=1` convs, no reflection). Class
        channels tiled over the image (the conditional variant) are constant, so a
        conv turns them into a per-channel constant that the following instance norm
        removes: with "reflect" the output does not depend on them at all; with
        "zero" only through the image border.

    Examples:

    >>> import numpy as np
    >>> generator = ResnetGenerator(ngf=4, n_blocks=1)
    >>> tuple(generator(np.zeros((2, 16, 16, 3), "float32")).shape)
    (2, 16, 16, 3)
    """

    def __init__(
        self,
        ngf=64,
        n_blocks=9,
        upsampling="deconv3",
        output_channels=3,
        padding="reflect",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if upsampling not in UPSAMPLING:
            raise ValueError(f"upsampling={upsampling!r}: expected one of {sorted(UPSAMPLING)}")
        self.ngf, self.n_blocks = ngf, n_blocks
        self.upsampling, self.output_channels = upsampling, output_channels
        self.padding = padding
        init = conv_initializer()
        body = [
            spatial_padding(padding, 3, "stem_pad"),
            keras.layers.Conv2D(ngf, 7, kernel_initializer=init, name="stem_conv"),
            InstanceNormalization(name="stem_norm"),
            keras.layers.ReLU(name="stem_relu"),
        ]
        for i, filters in enumerate((2 * ngf, 4 * ngf), start=1):
            body += [
                keras.layers.ZeroPadding2D(1, name=f"down{i}_pad"),
                keras.layers.Conv2D(
                    filters, 3, strides=2, kernel_initializer=init, name=f"down{i}_conv"
                ),
                InstanceNormalization(name=f"down{i}_norm"),
                keras.layers.ReLU(name=f"down{i}_relu"),
            ]
        body += [
            GeneratorResidualBlock(4 * ngf, padding, name=f"block{b + 1}") for b in range(n_blocks)
        ]
        k = UPSAMPLING[upsampling]
        for i, filters in enumerate((2 * ngf, ngf), start=1):
            body += [
                # "valid" gives (H-1)·2 + k; PyTorch then drops `padding` = 1 row/column at
                # the start and `padding - output_padding` at the end: k=3 → (1, 0), k=4 → (1, 1).
                # (Keras "same" for k=3 would keep the first 2H instead: shifted by one pixel.)
                keras.layers.Conv2DTranspose(
                    filters, k, strides=2, kernel_initializer=init, name=f"up{i}_deconv"
                ),
                keras.layers.Cropping2D(((1, k - 3), (1, k - 3)), name=f"up{i}_crop"),
                InstanceNormalization(name=f"up{i}_norm"),
                keras.layers.ReLU(name=f"up{i}_relu"),
            ]
        body += [
            spatial_padding(padding, 3, "head_pad"),
            keras.layers.Conv2D(output_channels, 7, kernel_initializer=init, name="head_conv"),
            # float32 out under mixed precision: losses and image pools see float32.
            keras.layers.Activation("tanh", dtype="float32", name="tanh"),
        ]
        self.body = body

    def build(self, input_shape):
        build_stack(self.body, input_shape)

    def call(self, x, training=None):
        for layer in self.body:
            x = layer(x)
        return x

    def serving_outputs(self, images):
        """What a server returns for source images [B, S, S, 3] in [0, 1]
        (`serving.export`): the translated image, uint8 [B, S, S, 3]."""
        y = (self(images * 2.0 - 1.0, training=False) + 1.0) / 2.0
        return {
            "image": keras.ops.cast(keras.ops.round(keras.ops.clip(y, 0.0, 1.0) * 255.0), "uint8")
        }

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_channels)

    def get_config(self):
        return {
            **super().get_config(),
            "ngf": self.ngf,
            "n_blocks": self.n_blocks,
            "upsampling": self.upsampling,
            "output_channels": self.output_channels,
            "padding": self.padding,
        }
