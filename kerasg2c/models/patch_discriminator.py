"""CycleGAN discriminators: the 70×70 PatchGAN (Isola et al. 2017, arXiv:1611.07004;
Zhu et al. 2017) and the IHC paper's average-pooled variant (Table 2)."""

import keras

from kerasg2c.layers.generator_block import conv_initializer
from kerasg2c.layers.instance_norm import InstanceNormalization
from kerasg2c.layers.stack import build_stack, stack_output_shape

VARIANTS = ("patchgan", "ihc")
NORMALIZATIONS = ("instance", "none")


@keras.saving.register_keras_serializable(package="kerasg2c")
class PatchDiscriminator(keras.Model):
    """Image (+ condition channels) → real/fake logits (no sigmoid), float32.

    patchgan: C64-C128-C256-C512 with 4×4 convs (stride 2, 2, 2, then 1), zero
      padding 1, LeakyReLU 0.2, instance norm except after the first conv, then a
      4×4 conv to one channel: a map of logits, one per 70×70 patch (256² → 30×30).
    ihc: 7×7 conv (padding 3) to ndf, LeakyReLU; `n_layers` 3×3 stride-2 convs
      (padding 1) with instance norm and LeakyReLU; a 4×4 conv (padding 1) to one
      channel; global average pooling → one logit per image, shape [B, 1].

    Convolutions are biased (the reference sets `use_bias` with instance norm),
    weights drawn from N(0, 0.02).

    Args:
      ndf: width of the first conv; doubled per layer up to 8·ndf.
      n_layers: stride-2 convolutions (3: the 70×70 PatchGAN).
      variant: "patchgan" or "ihc".
      normalization: "instance" or "none" (the reference's `--norm none`).

    Examples:

    >>> import numpy as np
    >>> discriminator = PatchDiscriminator(ndf=4, n_layers=2)
    >>> tuple(discriminator(np.zeros((2, 32, 32, 3), "float32")).shape)
    (2, 6, 6, 1)
    """

    def __init__(self, ndf=64, n_layers=3, variant="patchgan", normalization="instance", **kwargs):
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"variant={variant!r}: expected one of {VARIANTS}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization={normalization!r}: expected one of {NORMALIZATIONS}")
        self.ndf, self.n_layers = ndf, n_layers
        self.variant, self.normalization = variant, normalization
        build = self._patchgan if variant == "patchgan" else self._ihc
        self.body = build()

    def _conv(self, filters, kernel, stride, padding, name, norm=True, activation=True):
        layers = [
            keras.layers.ZeroPadding2D(padding, name=f"{name}_pad"),
            keras.layers.Conv2D(
                filters, kernel, strides=stride, kernel_initializer=conv_initializer(), name=name
            ),
        ]
        if norm and self.normalization == "instance":
            layers.append(InstanceNormalization(name=f"{name}_norm"))
        if activation:
            layers.append(keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu"))
        return layers

    def _width(self, n):
        return self.ndf * min(2**n, 8)

    def _patchgan(self):
        body = self._conv(self.ndf, 4, 2, 1, "conv1", norm=False)
        for n in range(1, self.n_layers):
            body += self._conv(self._width(n), 4, 2, 1, f"conv{n + 1}")
        body += self._conv(self._width(self.n_layers), 4, 1, 1, f"conv{self.n_layers + 1}")
        body += self._conv(1, 4, 1, 1, "logits", norm=False, activation=False)
        return body + [keras.layers.Activation("linear", dtype="float32", name="float32")]

    def _ihc(self):
        body = self._conv(self.ndf, 7, 1, 3, "conv1", norm=False)
        for n in range(1, self.n_layers + 1):
            body += self._conv(self._width(n), 3, 2, 1, f"conv{n + 1}")
        body += self._conv(1, 4, 1, 1, "logits", norm=False, activation=False)
        return body + [keras.layers.GlobalAveragePooling2D(dtype="float32", name="pool")]

    def build(self, input_shape):
        build_stack(self.body, input_shape)

    def call(self, x, training=None):
        if x.shape[1] is not None and x.shape[2] is not None:
            # Raises on images too small for the map: oneDNN's CPU conv was seen to
            # return a wrongly shaped tensor instead of failing.
            self.compute_output_shape(tuple(x.shape))
        for layer in self.body:
            x = layer(x)
        return x

    def compute_output_shape(self, input_shape):
        return stack_output_shape(self.body, input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "ndf": self.ndf,
            "n_layers": self.n_layers,
            "variant": self.variant,
            "normalization": self.normalization,
        }
