"""Instance normalisation (Ulyanov et al. 2016, arXiv:1607.08022)."""

import keras


@keras.saving.register_keras_serializable(package="kerasg2c")
class InstanceNormalization(keras.layers.GroupNormalization):
    """Normalises each channel of each image over its spatial axes.

    `GroupNormalization` with one group per channel. No affine parameters by
    default, like PyTorch's `InstanceNorm2d(affine=False)` in the reference
    CycleGAN (whose convolutions therefore keep their biases). Statistics are
    computed in float32 under mixed precision.

    Args:
      center: learn a per-channel offset.
      scale: learn a per-channel scale.
      epsilon: added to the variance.
    """

    def __init__(self, center=False, scale=False, epsilon=1e-5, **kwargs):
        kwargs.pop("groups", None)
        kwargs.pop("axis", None)
        super().__init__(groups=-1, axis=-1, epsilon=epsilon, center=center, scale=scale, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["groups"], config["axis"]
        return config
