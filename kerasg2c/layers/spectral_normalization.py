"""Spectral normalisation with one power iteration per training step (Miyato et al. 2018,
arXiv:1802.05957, Algorithm 1; as SAGAN and HistoGAN's critics use it)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasg2c")
class StepSpectralNormalization(keras.layers.SpectralNormalization):
    """`keras.layers.SpectralNormalization` whose power iteration runs when `power_iterate()`
    is called, not on every call in training mode.

    Keras' layer re-estimates σ and writes W/σ into the wrapped kernel on every
    training-mode call, so a critic called on real, generated and interpolated images in
    one update advances the iteration three times. Here a call only applies the layer; the
    model calls `power_iterate()` once per critic update, before its forward pass, so the
    gradient is still taken at W/σ (without differentiating through σ) and the iteration
    advances once per step, as Algorithm 1 does. Variables, saving and the all-zero-kernel
    guard are Keras'.

    Examples:

    >>> import keras
    >>> import numpy as np
    >>> layer = StepSpectralNormalization(keras.layers.Dense(4))
    >>> tuple(layer(np.ones((2, 3), "float32")).shape)
    (2, 4)
    >>> layer.power_iterate()
    """

    def call(self, inputs, training=False):
        del training  # the iteration runs in power_iterate()
        return ops.cast(self.layer(inputs), inputs.dtype)

    def power_iterate(self):
        """`power_iterations` steps of the power method on the kernel, then W ← W/σ."""
        vector_u, kernel = ops.cond(
            ops.all(ops.equal(self.kernel.value, 0)),
            lambda: (self.vector_u.value, self.kernel.value),
            self.normalized_weights,
        )
        self.vector_u.assign(vector_u)
        self.kernel.assign(kernel)
