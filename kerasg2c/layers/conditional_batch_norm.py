"""Class-conditional batch normalisation (De Vries et al. 2017, arXiv:1707.00683;
HistoGAN §3.1.1 and §4.2.1: after the convolutions of its generators and discriminators)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasg2c")
class ConditionalBatchNorm(keras.layers.Layer):
    """Batch normalisation whose scale γ and offset β are chosen by the class label.

      y = γ[c] · (x − μ) / √(σ² + ε) + β[c]

    μ and σ² are those of a `BatchNormalization(center=False, scale=False)` held
    inside, so the batch statistics in training, the moving statistics in
    inference, and their updates are exactly Keras' (shared by all classes). γ and
    β are tables [num_classes, C], initialised to 1 and 0 (plain BN at the start).

    Called as `layer(x, labels, training=...)` with x NHWC [B, H, W, C] (any rank
    with channels last works) and labels either int class ids [B] or one-hot
    [B, num_classes] (a soft label mixes the classes' γ and β linearly).

    Args:
      num_classes: number of classes (rows of the γ and β tables).
      momentum: of the moving statistics; 0.9, PyTorch's default, as `ConvBNReLU`.
      epsilon: added to the variance; 1e-5, PyTorch's default.
      sync_batchnorm: synchronise batch statistics across replicas (see `ConvBNReLU`).

    Examples:

    >>> import numpy as np
    >>> norm = ConditionalBatchNorm(num_classes=3, sync_batchnorm=False)
    >>> tuple(norm(np.ones((2, 4, 4, 8), "float32"), np.array([0, 2]), training=True).shape)
    (2, 4, 4, 8)
    """

    def __init__(self, num_classes, momentum=0.9, epsilon=1e-5, sync_batchnorm=True, **kwargs):
        super().__init__(**kwargs)
        if num_classes < 1:
            raise ValueError(f"num_classes={num_classes}: need at least 1")
        self.num_classes, self.momentum, self.epsilon = int(num_classes), momentum, epsilon
        self.sync_batchnorm = sync_batchnorm
        self.norm = keras.layers.BatchNormalization(
            momentum=momentum,
            epsilon=epsilon,
            center=False,
            scale=False,
            synchronized=sync_batchnorm,
            name="bn",
        )
        self.gamma = None
        self.beta = None

    def build(self, x_shape, labels_shape):
        if len(labels_shape) not in (1, 2) or (
            len(labels_shape) == 2 and labels_shape[-1] not in (None, self.num_classes)
        ):
            raise ValueError(
                f"{self.name}: labels must be class ids [B] or one-hot [B, {self.num_classes}], "
                f"got shape {tuple(labels_shape)}"
            )
        channels = x_shape[-1]
        self.norm.build(x_shape)
        self.gamma = self.add_weight(
            shape=(self.num_classes, channels), initializer="ones", name="gamma"
        )
        self.beta = self.add_weight(
            shape=(self.num_classes, channels), initializer="zeros", name="beta"
        )

    def call(self, x, labels, training=None):
        normalised = self.norm(x, training=training)
        if len(labels.shape) == 1:
            gamma = ops.take(self.gamma, ops.cast(labels, "int32"), axis=0)
            beta = ops.take(self.beta, ops.cast(labels, "int32"), axis=0)
        else:
            weights = ops.cast(labels, self.gamma.dtype)
            gamma, beta = ops.matmul(weights, self.gamma), ops.matmul(weights, self.beta)
        # [B, C] → [B, 1, …, 1, C], broadcast over the spatial axes.
        broadcast = (-1,) + (1,) * (len(x.shape) - 2) + (x.shape[-1],)
        gamma = ops.cast(ops.reshape(gamma, broadcast), normalised.dtype)
        beta = ops.cast(ops.reshape(beta, broadcast), normalised.dtype)
        return normalised * gamma + beta

    def compute_output_shape(self, x_shape, labels_shape):
        return tuple(x_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "sync_batchnorm": self.sync_batchnorm,
        }
