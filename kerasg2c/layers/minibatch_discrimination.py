"""Minibatch discrimination (Salimans et al. 2016, "Improved techniques for training
GANs", arXiv:1606.03498, §3.2; HistoGAN §4.2.1: before each discriminator's dense output)."""

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="kerasg2c")
class MinibatchDiscrimination(keras.layers.Layer):
    """Appends to each example's features how close it is to the others in the batch.

      M_i = x_i · T                                   [num_kernels, kernel_dim]
      c_b(x_i, x_j) = exp(−‖M_i,b − M_j,b‖₁)
      o(x_i)_b = Σ_{j≠i} c_b(x_i, x_j)
      output = concat(x_i, o(x_i))                    [A + num_kernels]

    The paper's sum runs over all j; the authors' code (openai/improved-gan
    `MinibatchLayer`) masks j = i, whose term is the constant exp(0) = 1. We follow
    the code. Its weight normalisation of T, learned offset and data-dependent
    initialisation are left out: T is a plain weight ~ N(0, 0.05²), as there.

    Under a tf.distribute strategy with several replicas in sync, the rows M_j are
    all-gathered, so each replica compares its examples with the whole global batch (as
    the synchronised batch norm pools its moments); the gather's gradient sums the
    replicas' contributions, so training matches one device on the same global batch.

    Each output depends on the whole batch, so a per-example gradient penalty
    (WGAN-GP) no longer sees a function of one example (Gulrajani et al. 2017, §4).

    Input: features [B, A]. Output: [B, A + num_kernels].

    Args:
      num_kernels: B in the paper, the number of closeness features appended.
      kernel_dim: C in the paper, the length of each row M_i,b (5 in the reference).

    Examples:

    >>> import numpy as np
    >>> layer = MinibatchDiscrimination(num_kernels=4, kernel_dim=3)
    >>> tuple(layer(np.zeros((5, 16), "float32")).shape)
    (5, 20)
    """

    def __init__(self, num_kernels, kernel_dim=5, **kwargs):
        super().__init__(**kwargs)
        if num_kernels < 1 or kernel_dim < 1:
            raise ValueError(
                f"num_kernels={num_kernels}, kernel_dim={kernel_dim}: both need at least 1"
            )
        self.num_kernels, self.kernel_dim = int(num_kernels), int(kernel_dim)
        self.kernel = None

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{self.name}: expected features [B, A], got {tuple(input_shape)}")
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.num_kernels, self.kernel_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.05),
            name="kernel",
        )

    def call(self, x):
        m = ops.einsum("ba,akd->bkd", x, ops.cast(self.kernel, x.dtype))
        others = m
        context = tf.distribute.get_replica_context() if tf.distribute.has_strategy() else None
        if context is not None and context.num_replicas_in_sync > 1:
            # Replica r's rows of the global batch, in replica order; differentiable (its
            # gradient all-reduces the replicas' upstream gradients and keeps r's rows).
            others = context.all_gather(m, axis=0)
        l1 = ops.sum(ops.abs(m[:, None] - others[None, :]), axis=-1)  # [b, B, num_kernels]
        # c_b(x_i, x_i) = exp(0) = 1 exactly (the gathered copy of M_i is bitwise M_i):
        # subtracting it leaves the sum over j ≠ i.
        closeness = ops.sum(ops.exp(-l1), axis=1) - 1.0
        return ops.concatenate([x, closeness], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] + self.num_kernels)

    def get_config(self):
        return {
            **super().get_config(),
            "num_kernels": self.num_kernels,
            "kernel_dim": self.kernel_dim,
        }
