"""Self-attention block of SAGAN (Zhang et al. 2019, arXiv:1805.08318, §3; HistoGAN
§3.1.1, Eqs. 2-3: after the stage-I generator and in every discriminator)."""

import keras
from keras import ops

from kerasg2c.layers.spectral_normalization import StepSpectralNormalization


@keras.saving.register_keras_serializable(package="kerasg2c")
class SelfAttention(keras.layers.Layer):
    """out = x + γ · W_o(softmax(q kᵀ) v), γ a learned scalar initialised to 0.

    Shapes as SAGAN's reference code (and BigGAN's port of it), not the paper's
    text: 1×1 convolutions without bias give the query q (C/8 channels) at every
    position and the key k (C/8) and value v (C/2) max-pooled 2×2, so each of the
    H·W positions attends over ⌊H/2⌋·⌊W/2⌋ pooled ones; a 1×1 convolution W_o takes
    the attended values back to C channels. With γ = 0 the block is the identity; the
    network learns how much attention to mix in. The pooling and softmax run in float32.

    Input and output: [B, H, W, C], C ≥ 8, H and W ≥ 2.

    Args:
      spectral_norm: wrap the four convolutions in `StepSpectralNormalization` (as SAGAN
        does in both networks; HistoGAN's discriminators); `power_iterate()` then
        advances their power iterations, once per training step.

    Examples:

    >>> import numpy as np
    >>> attention = SelfAttention()
    >>> tuple(attention(np.zeros((2, 4, 4, 8), "float32")).shape)
    (2, 4, 4, 8)
    """

    def __init__(self, spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.spectral_norm = spectral_norm
        self.query = self.key = self.value = self.output_projection = None
        self.gamma = None

    def _conv(self, filters, name):
        conv = keras.layers.Conv2D(filters, 1, use_bias=False, name=name)
        return StepSpectralNormalization(conv, name=f"{name}_sn") if self.spectral_norm else conv

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"{self.name}: expected [B, H, W, C], got {tuple(input_shape)}")
        height, width, channels = input_shape[1:]
        if channels < 8 or any(size is not None and size < 2 for size in (height, width)):
            raise ValueError(f"{self.name}: needs C ≥ 8 and H, W ≥ 2, got {tuple(input_shape)}")
        self.query = self._conv(channels // 8, "query")
        self.key = self._conv(channels // 8, "key")
        self.value = self._conv(channels // 2, "value")
        self.output_projection = self._conv(channels, "output")
        for conv in (self.query, self.key, self.value):
            conv.build(input_shape)
        self.output_projection.build((*input_shape[:-1], channels // 2))
        self.gamma = self.add_weight(shape=(), initializer="zeros", name="gamma")

    def power_iterate(self):
        """One power-iteration step of each spectrally normalised convolution."""
        if self.spectral_norm:
            for conv in (self.query, self.key, self.value, self.output_projection):
                conv.power_iterate()

    def call(self, x):
        batch, height, width = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
        query = ops.reshape(self.query(x), (batch, height * width, -1))
        key = _max_pool(self.key(x))
        key = ops.reshape(key, (batch, -1, key.shape[-1]))
        value = _max_pool(self.value(x))
        value = ops.reshape(value, (batch, -1, value.shape[-1]))
        logits = ops.matmul(query, ops.transpose(key, (0, 2, 1)))  # [B, H·W, pooled]
        attention = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=-1), value.dtype)
        # A static channel count (not -1): tf2onnx can then convert the output conv.
        attended = ops.reshape(
            ops.matmul(attention, value), (batch, height, width, value.shape[-1])
        )
        return x + ops.cast(self.gamma, x.dtype) * self.output_projection(attended)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "spectral_norm": self.spectral_norm}


def _max_pool(x):
    """2×2 max pooling in float32 (exact for any input dtype: the max commutes with the
    cast). XLA has no second derivative of a bfloat16 or float16 max pool (MaxPoolGradGrad,
    which a gradient penalty through this layer needs), so a mixed-precision step could
    not be jit-compiled otherwise."""
    return ops.cast(ops.max_pool(ops.cast(x, "float32"), pool_size=2, strides=2), x.dtype)
