"""A 2-D convolution that computes a small output as one matrix product of its patches."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasg2c")
class PatchConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` whose output, when it has at most `max_patch_pixels` pixels
    (height × width, known when traced), is one matrix product of the input's patches
    (gathered by strided slices, im2col) with the kernel reshaped to [kh·kw·C_in, filters].
    Same weights, same padding rules, the same result to float rounding; larger outputs,
    unknown sizes and dilated convolutions use `Conv2D`'s own convolution.

    Why: a WGAN-GP critic's gradient penalty differentiates its convolutions twice, and
    XLA on CPU lowers the second derivative of a convolution with a tiny output (a
    critic's deepest layers: 2×2 or 3×3 outputs of 3×3 and 4×4 kernels) to kernel-reversed
    convolutions that it runs with a generic loop: in a HistoGAN step at 64 px these two
    layers of the low-resolution critic took most of the XLA step (the profile is in
    docs/SCALING.md, "Benchmarks"). Slices, concatenation and a matrix product have
    fast derivatives of every order under XLA, and at these sizes TensorFlow's own
    convolution is no faster than the product.

    Args:
      filters, kernel_size, strides, padding, use_bias, ...: `keras.layers.Conv2D`'s
        (channels_last, groups 1).
      max_patch_pixels: largest output, height × width, computed from patches; 0 = never
        (exactly `keras.layers.Conv2D`).

    Examples:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(2, 4, 4, 8)).astype("float32")
    >>> conv = PatchConv2D(16, 4, strides=2, padding="same")
    >>> tuple(conv(x).shape)  # a 2 × 2 output: one matrix product
    (2, 2, 2, 16)
    >>> plain = keras.layers.Conv2D(16, 4, strides=2, padding="same")
    >>> _ = plain(x)
    >>> plain.set_weights(conv.get_weights())
    >>> bool(np.allclose(conv(x), plain(x), atol=1e-5))
    True
    """

    def __init__(self, *args, max_patch_pixels=9, **kwargs):
        super().__init__(*args, **kwargs)
        if max_patch_pixels < 0:
            raise ValueError(f"max_patch_pixels={max_patch_pixels}: need 0 or more")
        if self.data_format != "channels_last" or self.groups != 1:
            raise ValueError("PatchConv2D: only channels_last and groups=1")
        self.max_patch_pixels = max_patch_pixels

    def _output_size(self, size, kernel, stride):
        if self.padding == "same":
            out = math.ceil(size / stride)
            return out, max((out - 1) * stride + kernel - size, 0)
        return (size - kernel) // stride + 1, 0

    def convolution_op(self, inputs, kernel):
        height, width = inputs.shape[1], inputs.shape[2]
        if height is None or width is None or tuple(self.dilation_rate) != (1, 1):
            return super().convolution_op(inputs, kernel)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        out_h, pad_h = self._output_size(height, kh, sh)
        out_w, pad_w = self._output_size(width, kw, sw)
        if out_h * out_w > self.max_patch_pixels:
            return super().convolution_op(inputs, kernel)
        # TensorFlow's "same": the odd pixel of padding goes after.
        x = ops.pad(
            inputs,
            [[0, 0], [pad_h // 2, pad_h - pad_h // 2], [pad_w // 2, pad_w - pad_w // 2], [0, 0]],
        )
        span_h, span_w = (out_h - 1) * sh + 1, (out_w - 1) * sw + 1
        patches = ops.concatenate(
            [
                x[:, i : i + span_h : sh, j : j + span_w : sw, :]
                for i in range(kh)
                for j in range(kw)
            ],
            axis=-1,
        )  # [B, out_h, out_w, kh·kw·C_in], ordered as the kernel's (i, j, c)
        return ops.tensordot(patches, ops.reshape(kernel, (-1, self.filters)), 1)

    def get_config(self):
        return {**super().get_config(), "max_patch_pixels": self.max_patch_pixels}
