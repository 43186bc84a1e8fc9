"""Per-example CycleGAN losses (Zhu et al. 2017, arXiv:1703.10593, Eqs. 1-3 and §5.2).

Each function returns float32 losses of shape [B], averaged over the pixels
(or patches) of each example, so the training step can scale them by the
global batch (`tf.nn.compute_average_loss`) under any tf.distribute strategy.
Names follow TF-GAN (`losses_impl.py`); the constants follow the reference
PyTorch CycleGAN, which differs from TF-GAN in two places: the generator's
least-squares loss has no factor 1/2, and every discriminator loss is halved
("we divide the objective by 2 while optimizing D", §4 of the CycleGAN paper).
"""

from keras import ops


def _per_example_mean(x):
    x = ops.cast(x, "float32")
    return ops.mean(ops.reshape(x, (ops.shape(x)[0], -1)), axis=-1)


def least_squares_generator_loss(fake_logits):
    """LSGAN generator loss, (D(G(z)) − 1)² (Mao et al. 2017, Eq. 2; CycleGAN §4).

    Args:
      fake_logits: discriminator outputs on generated images, [B, ...].

    Returns:
      [B] losses.
    """
    return _per_example_mean(ops.square(ops.cast(fake_logits, "float32") - 1.0))


def least_squares_discriminator_loss(real_logits, fake_logits):
    """LSGAN discriminator loss, ½·[(D(x) − 1)² + D(G(z))²] (Mao et al. 2017, Eq. 2).

    Args:
      real_logits: discriminator outputs on real images, [B, ...].
      fake_logits: discriminator outputs on (pooled) generated images, [B, ...].

    Returns:
      [B] losses.
    """
    real = _per_example_mean(ops.square(ops.cast(real_logits, "float32") - 1.0))
    fake = _per_example_mean(ops.square(ops.cast(fake_logits, "float32")))
    return 0.5 * (real + fake)


def bce_generator_loss(fake_logits):
    """Non-saturating GAN generator loss, −log σ(D(G(z))) (Goodfellow et al. 2014, §3).

    Args:
      fake_logits: discriminator logits on generated images, [B, ...].

    Returns:
      [B] losses.
    """
    return _per_example_mean(ops.softplus(-ops.cast(fake_logits, "float32")))


def bce_discriminator_loss(real_logits, fake_logits):
    """Binary cross-entropy discriminator loss from logits, halved as in the reference:
    ½·[−log σ(D(x)) − log(1 − σ(D(G(z))))].

    Args:
      real_logits: discriminator logits on real images, [B, ...].
      fake_logits: discriminator logits on (pooled) generated images, [B, ...].

    Returns:
      [B] losses.
    """
    real = _per_example_mean(ops.softplus(-ops.cast(real_logits, "float32")))
    fake = _per_example_mean(ops.softplus(ops.cast(fake_logits, "float32")))
    return 0.5 * (real + fake)


def cycle_consistency_loss(real, reconstructed):
    """Cycle-consistency loss, mean |x − F(G(x))| (CycleGAN Eq. 2, one direction).

    Args:
      real: images, [B, H, W, C].
      reconstructed: the same images translated there and back.

    Returns:
      [B] losses.
    """
    return _per_example_mean(
        ops.abs(ops.cast(real, "float32") - ops.cast(reconstructed, "float32"))
    )


def identity_loss(real, same):
    """Identity mapping loss, mean |y − G(y)| (CycleGAN §5.2, Taigman et al. 2017).

    Args:
      real: images of the generator's target domain, [B, H, W, C].
      same: the generator applied to them.

    Returns:
      [B] losses.
    """
    return _per_example_mean(ops.abs(ops.cast(real, "float32") - ops.cast(same, "float32")))
