"""Per-example WGAN-GP losses (Gulrajani et al. 2017, arXiv:1704.00028, Algorithm 1,
Eq. 3), the loss of every HistoGAN discriminator (HistoGAN §4.2.1).

Each function returns float32 losses of shape [B] (critic scores averaged over any
non-batch axes), so the training step can scale them by the global batch
(`tf.nn.compute_average_loss`). The gradient-penalty weight λ is the caller's:
critic loss = `wasserstein_critic_loss + λ · wasserstein_penalty`, λ = 10 in WGAN-GP,
50 in HistoGAN.
"""

import tensorflow as tf
from keras import ops

from kerasg2c.losses.adversarial import _per_example_mean


def wasserstein_generator_loss(fake_scores):
    """Generator loss −D(G(z)) (Algorithm 1, the generator update).

    Args:
      fake_scores: critic outputs on generated images, [B, ...].

    Returns:
      [B] losses.
    """
    return -_per_example_mean(fake_scores)


def wasserstein_critic_loss(real_scores, fake_scores):
    """Critic loss without its penalty, D(G(z)) − D(x) (Eq. 3, first two terms).

    Args:
      real_scores: critic outputs on real images, [B, ...].
      fake_scores: critic outputs on generated images, [B, ...].

    Returns:
      [B] losses.
    """
    return _per_example_mean(fake_scores) - _per_example_mean(real_scores)


def wasserstein_penalty(critic_fn, real, fake, seed):
    """Gradient penalty (‖∇x̂ D(x̂)‖₂ − 1)² at x̂ = ε·x + (1 − ε)·G(z), ε ~ U[0, 1] per
    example (Eq. 3, third term without λ; Algorithm 1).

    ε is drawn statelessly from `seed`, so a resumed run draws the same ε; derive the
    seed from (seed, step, replica). As in TF-GAN, 1e-10 is added under the square root
    so the penalty's own gradient stays finite where ∇D vanishes. Record it inside the
    tape of the critic's update: the penalty's gradient is a second derivative.

    Args:
      critic_fn: images [B, ...] → scores [B, ...]; a closure where the critic needs
        more inputs (e.g. the labels of a conditional critic).
      real: real images, [B, ...].
      fake: generated images, same shape.
      seed: int32 or int64 tensor of shape [2], for `tf.random.stateless_uniform`.

    Returns:
      [B] penalties, before the weight λ.
    """
    real, fake = ops.cast(real, "float32"), ops.cast(fake, "float32")
    shape = (ops.shape(real)[0],) + (1,) * (len(real.shape) - 1)
    epsilon = tf.random.stateless_uniform(shape, seed=seed, dtype="float32")
    interpolated = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        # ∂/∂x̂_i of the batch sum is ∇D(x̂_i) for a critic without batch coupling; with
        # batch norm or minibatch discrimination (HistoGAN's critics) it also holds the
        # other examples' dependence on x̂_i, which WGAN-GP's §4 advises against.
        scores = ops.sum(_per_example_mean(critic_fn(interpolated)))
    gradients = tape.gradient(scores, interpolated)
    squared = ops.sum(ops.reshape(ops.square(gradients), (ops.shape(real)[0], -1)), axis=-1)
    return ops.square(ops.sqrt(squared + 1e-10) - 1.0)
