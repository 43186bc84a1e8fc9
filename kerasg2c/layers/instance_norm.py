"""Instance normalisation (Ulyanov et al. 2016, arXiv:1607.08022)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasg2c")
class InstanceNormalization(keras.layers.GroupNormalization):
    """Normalises each channel of each image over its spatial axes.

    `GroupNormalization` with one group per channel. No affine parameters by
    default, like PyTorch's `InstanceNorm2d(affine=False)` in the reference
    CycleGAN (whose convolutions therefore keep their biases). Statistics are
    computed in float32 under mixed precision.

    `moments_hook`, when set (never serialised), is called with each image's own
    per-channel `(mean, variance)`, float32 [B, C], and returns the moments to
    normalise with instead: recording them, or substituting others, as kernelised
    instance normalisation does (Ho et al., ECCV 2022; `kerasg2c.slides.
    instance_statistics`). Unset, the layer is `GroupNormalization` unchanged.

    Args:
      center: learn a per-channel offset.
      scale: learn a per-channel scale.
      epsilon: added to the variance.

    Examples:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (2, 8, 8, 4)).astype("float32")
    >>> y = InstanceNormalization()(x)
    >>> tuple(y.shape)
    (2, 8, 8, 4)
    >>> np.allclose(np.mean(y, axis=(1, 2)), 0.0, atol=1e-4)
    True
    """

    def __init__(self, center=False, scale=False, epsilon=1e-5, **kwargs):
        kwargs.pop("groups", None)
        kwargs.pop("axis", None)
        super().__init__(groups=-1, axis=-1, epsilon=epsilon, center=center, scale=scale, **kwargs)
        self.moments_hook = None

    def call(self, inputs):
        if self.moments_hook is None:
            return super().call(inputs)
        x = ops.cast(inputs, "float32")
        axes = list(range(1, len(x.shape) - 1))
        mean, variance = ops.moments(x, axes=axes)
        mean, variance = self.moments_hook(mean, variance)
        shape = [-1] + [1] * len(axes) + [x.shape[-1]]
        inv = ops.rsqrt(ops.reshape(variance, shape) + self.epsilon)
        if self.scale:
            inv = inv * ops.cast(self.gamma, "float32")
        offset = -ops.reshape(mean, shape) * inv
        if self.center:
            offset = offset + ops.cast(self.beta, "float32")
        return ops.cast(x * inv + offset, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        del config["groups"], config["axis"]
        return config
