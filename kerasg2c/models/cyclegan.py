"""CycleGAN (Zhu et al. 2017, arXiv:1703.10593): unpaired translation between two stains,
the G2C generator initialisation (G2C papers §Optimization) and the IHC paper's
conditional variant (class channels concatenated to every network's input)."""

import keras
import tensorflow as tf
from keras import ops

from kerasg2c.losses import adversarial
from kerasg2c.models.image_pool import ImagePool
from kerasg2c.models.multi_optimizer import MultiOptimizerModel
from kerasg2c.training import runtime

ADVERSARIAL_LOSSES = {
    # name: (generator loss, discriminator loss)
    "least_squares": (
        adversarial.least_squares_generator_loss,
        adversarial.least_squares_discriminator_loss,
    ),
    # IHC paper: BCE for D, MSE for G (on D's raw outputs: its Table 2 has no sigmoid).
    "bce_discriminator": (
        adversarial.least_squares_generator_loss,
        adversarial.bce_discriminator_loss,
    ),
    "bce": (adversarial.bce_generator_loss, adversarial.bce_discriminator_loss),
}


@keras.saving.register_keras_serializable(package="kerasg2c")
class CycleGAN(MultiOptimizerModel, keras.Model):
    """Two generators and two discriminators trained by one `train_step`.

    generator_ab (G, g_m in G2C) translates stain A → B, generator_ba (F, ĝ_m)
    B → A; discriminator_a tells real A from F's output, discriminator_b real B
    from G's. The generator objective is L_adv(G) + L_adv(F) + λ·(cycle A + cycle
    B) + λ_id·λ·(identity A + identity B) (CycleGAN Eq. 3 and §5.2); each
    discriminator sees real images against fakes drawn from a history pool.

    Conditional variant (IHC paper, `num_classes > 0`): batches carry a class
    vector per image (one-hot or probabilities, [B, num_classes]); it is tiled to
    H×W and concatenated to the input of both generators and both discriminators.
    A fake keeps the class of the patch it was made from (D_b sees G(a) ⊕ class_a,
    and so do the pool and the cycle back through F).

    `train_step` follows `kerasg2c.training.loop`: losses are scaled by the global
    batch and every returned value is this replica's share of a global mean.
    `call` is generator_ab alone, the network that is served and that G2C reuses.

    Args:
      generator_ab, generator_ba: e.g. `ResnetGenerator`s taking 3 + num_classes channels.
      discriminator_a, discriminator_b: e.g. `PatchDiscriminator`s.
      lambda_cycle: λ, weight of the cycle-consistency losses (10).
      lambda_identity: identity weight relative to λ (0.5; 0 skips the identity passes).
      adversarial_loss: "least_squares" (CycleGAN), "bce_discriminator" (IHC paper:
        BCE for D, MSE for G) or "bce" (non-saturating GAN).
      pool_size: fakes kept per discriminator (50; 0 = no pool).
      num_classes: condition channels (0 = unconditional).

    Examples:

    >>> import numpy as np
    >>> from kerasg2c.models.patch_discriminator import PatchDiscriminator
    >>> from kerasg2c.models.resnet_generator import ResnetGenerator
    >>> model = CycleGAN(
    ...     ResnetGenerator(ngf=4, n_blocks=1, name="generator_ab"),
    ...     ResnetGenerator(ngf=4, n_blocks=1, name="generator_ba"),
    ...     PatchDiscriminator(ndf=4, n_layers=1, name="discriminator_a"),
    ...     PatchDiscriminator(ndf=4, n_layers=1, name="discriminator_b"),
    ...     pool_size=0,
    ... )
    >>> tuple(model(np.zeros((2, 16, 16, 3), "float32")).shape)
    (2, 16, 16, 3)
    """

    OPTIMIZERS = (
        ("generator_optimizer", "generator_optimizer", "generator_variables"),
        ("discriminator_optimizer", "discriminator_optimizer", "discriminator_variables"),
    )

    def __init__(
        self,
        generator_ab,
        generator_ba,
        discriminator_a,
        discriminator_b,
        lambda_cycle=10.0,
        lambda_identity=0.5,
        adversarial_loss="least_squares",
        pool_size=50,
        num_classes=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if adversarial_loss not in ADVERSARIAL_LOSSES:
            raise ValueError(
                f"adversarial_loss={adversarial_loss!r}: expected one of "
                f"{sorted(ADVERSARIAL_LOSSES)}"
            )
        self.generator_ab, self.generator_ba = generator_ab, generator_ba
        self.discriminator_a, self.discriminator_b = discriminator_a, discriminator_b
        self.lambda_cycle, self.lambda_identity = lambda_cycle, lambda_identity
        self.adversarial_loss, self.pool_size = adversarial_loss, pool_size
        self.num_classes = num_classes
        self.pool_a = ImagePool(pool_size, seed=1, name="pool_a")
        self.pool_b = ImagePool(pool_size, seed=2, name="pool_b")
        self.generator_optimizer = None
        self.discriminator_optimizer = None

    # --- Building -----------------------------------------------------------

    def build(self, input_shape):
        """input_shape: (B, H, W, channels of A + num_classes), H and W known."""
        *spatial, channels = tuple(input_shape)
        channels_a = channels - self.num_classes
        channels_b = self.generator_ab.compute_output_shape(tuple(input_shape))[-1]
        a_shape = (*spatial, channels_a + self.num_classes)
        b_shape = (*spatial, channels_b + self.num_classes)
        for network, shape in (
            (self.generator_ab, a_shape),
            (self.generator_ba, b_shape),
            (self.discriminator_a, a_shape),
            (self.discriminator_b, b_shape),
            (self.pool_a, a_shape),
            (self.pool_b, b_shape),
        ):
            if not network.built:
                network.build(shape)

    def compile(self, generator_optimizer, discriminator_optimizer, **kwargs):
        """One optimizer for both generators, one for both discriminators (the reference
        chains their parameters); each passes through `runtime.optimizer_for_precision`."""
        super().compile(optimizer=None, **kwargs)
        self.generator_optimizer = runtime.optimizer_for_precision(generator_optimizer)
        self.discriminator_optimizer = runtime.optimizer_for_precision(discriminator_optimizer)

    @property
    def generator_variables(self):
        return self.generator_ab.trainable_variables + self.generator_ba.trainable_variables

    @property
    def discriminator_variables(self):
        return self.discriminator_a.trainable_variables + self.discriminator_b.trainable_variables

    # --- Inference ----------------------------------------------------------

    def call(self, inputs, training=None):
        return self.generator_ab(inputs, training=training)

    # --- Training -----------------------------------------------------------

    def with_class(self, images, classes):
        """`images` with the class of each (one-hot or probabilities [B, C]) appended as
        constant channels (IHC paper's conditional CycleGAN); unchanged when None."""
        if classes is None:
            return images
        shape = ops.shape(images)
        classes = ops.cast(classes, images.dtype)[:, None, None, :]
        tiled = ops.broadcast_to(classes, (shape[0], shape[1], shape[2], self.num_classes))
        return ops.concatenate([images, tiled], axis=-1)

    def _unpack(self, data):
        a, b = data
        if self.num_classes:
            (real_a, class_a), (real_b, class_b) = a, b
            return real_a, class_a, real_b, class_b
        return a, None, b, None

    def train_step(self, data):
        real_a, class_a, real_b, class_b = self._unpack(data)
        real_a = tf.cast(real_a, tf.float32)
        real_b = tf.cast(real_b, tf.float32)
        gen_loss_fn, disc_loss_fn = ADVERSARIAL_LOSSES[self.adversarial_loss]
        g_opt, d_opt = self.generator_optimizer, self.discriminator_optimizer
        g_vars, d_vars = self.generator_variables, self.discriminator_variables
        with tf.GradientTape() as tape:
            # 1. Generators forward: A → B → A and B → A → B (and identities). A generator's
            #    translation and identity pass share one call (two images per example:
            #    every layer is per image, instance normalisation included).
            in_a, in_b = self.with_class(real_a, class_a), self.with_class(real_b, class_b)
            if self.lambda_identity:
                fake_b, same_b = _twice(self.generator_ab, in_a, in_b)
                fake_a, same_a = _twice(self.generator_ba, in_b, in_a)
            else:
                fake_b = self.generator_ab(in_a, training=True)
                fake_a = self.generator_ba(in_b, training=True)
            rec_a = self.generator_ba(self.with_class(fake_b, class_a), training=True)
            rec_b = self.generator_ab(self.with_class(fake_a, class_b), training=True)
            d_in_fake_b = self.with_class(fake_b, class_a)
            d_in_fake_a = self.with_class(fake_a, class_b)
            # 2. Generator loss (per example): fool both discriminators, cycle, identity.
            adv = gen_loss_fn(self.discriminator_b(d_in_fake_b, training=True)) + gen_loss_fn(
                self.discriminator_a(d_in_fake_a, training=True)
            )
            cycle = adversarial.cycle_consistency_loss(
                real_a, rec_a
            ) + adversarial.cycle_consistency_loss(real_b, rec_b)
            if self.lambda_identity:
                ident = adversarial.identity_loss(real_b, same_b) + adversarial.identity_loss(
                    real_a, same_a
                )
            else:
                ident = ops.zeros_like(cycle)
            per_example = (
                adv + self.lambda_cycle * cycle + self.lambda_identity * self.lambda_cycle * ident
            )
            g_loss = tf.nn.compute_average_loss(per_example)
            scaled = g_opt.scale_loss(g_loss)
        g_opt.apply(tape.gradient(scaled, g_vars), g_vars)
        # 3. Discriminators: real images against pooled fakes (made before the update above,
        #    as in the reference), one call per discriminator; no gradient reaches the
        #    generators.
        pooled_fake_b = self.pool_b(tf.stop_gradient(d_in_fake_b))
        pooled_fake_a = self.pool_a(tf.stop_gradient(d_in_fake_a))
        with tf.GradientTape() as tape:
            d_per_example = disc_loss_fn(
                *_twice(self.discriminator_b, in_b, pooled_fake_b)
            ) + disc_loss_fn(*_twice(self.discriminator_a, in_a, pooled_fake_a))
            d_loss = tf.nn.compute_average_loss(d_per_example)
            scaled = d_opt.scale_loss(d_loss)
        d_opt.apply(tape.gradient(scaled, d_vars), d_vars)
        # 4. Logs, each this replica's share of the global-batch mean (the loop sums them).
        return {
            "g_loss": g_loss,
            "d_loss": d_loss,
            "cycle_loss": tf.nn.compute_average_loss(cycle),
            "identity_loss": tf.nn.compute_average_loss(ident),
            "adversarial_loss": tf.nn.compute_average_loss(adv),
        }

    # --- Serialisation ------------------------------------------------------

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "generator_ab": serialize(self.generator_ab),
            "generator_ba": serialize(self.generator_ba),
            "discriminator_a": serialize(self.discriminator_a),
            "discriminator_b": serialize(self.discriminator_b),
            "lambda_cycle": self.lambda_cycle,
            "lambda_identity": self.lambda_identity,
            "adversarial_loss": self.adversarial_loss,
            "pool_size": self.pool_size,
            "num_classes": self.num_classes,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _twice(network, first, second):
    """(network(first), network(second)) in one training-mode call on both batches stacked:
    the same values for networks that treat each image on its own (no batch
    normalisation), with half the calls, weight casts and kernel launches."""
    both = network(ops.concatenate([first, second], axis=0), training=True)
    return both[: ops.shape(first)[0]], both[ops.shape(first)[0] :]
