"""InfoWGAN-GP (Hu et al., "Unsupervised learning for cell-level visual representation in
histopathology images with generative adversarial networks", IEEE JBHI 2019, §III-A,
Eqs. 10-12, §IV): WGAN-GP with an InfoGAN categorical code whose auxiliary network Q
clusters real cells. The networks are in `infowgan_generator.py` and `infowgan_critic.py`."""

import keras
import tensorflow as tf
from keras import ops

from kerasg2c.losses import classification, wasserstein
from kerasg2c.models.infowgan_critic import InfoWGANCritic
from kerasg2c.models.infowgan_generator import InfoWGANGenerator, check_image_size
from kerasg2c.models.multi_optimizer import MultiOptimizerModel
from kerasg2c.training import runtime

__all__ = ["InfoWGANCritic", "InfoWGANGP", "InfoWGANGenerator", "random_rotation"]

# First value folded into every stateless seed: which draw it is.
_CODE, _NOISE, _PENALTY, _ROTATION = 1, 2, 3, 4


def random_rotation(images, seed):
    """Each square image rotated by k · 90°, k uniform in {0, 1, 2, 3}, drawn per example
    from `seed` ([2] int tensor, `tf.random.stateless_uniform`): the paper's training set
    augmented by 90°, 180° and 270° rotations (§IV-A) as one draw per image."""
    if images.shape[1] != images.shape[2]:
        raise ValueError(f"images of {tuple(images.shape[1:3])} pixels: rotation needs squares")
    k = tf.random.stateless_uniform(
        [tf.shape(images)[0]], seed=seed, minval=0, maxval=4, dtype=tf.int32, alg="philox"
    )
    rotated = tf.stack([tf.image.rot90(images, i) for i in range(4)], axis=1)
    return tf.gather(rotated, k, batch_dims=1)


@keras.saving.register_keras_serializable(package="kerasg2c")
class InfoWGANGP(MultiOptimizerModel, keras.Model):
    """An `InfoWGANGenerator` G(c, z) and an `InfoWGANCritic` holding D and Q on one trunk,
    trained by one `train_step` (Hu et al. Eqs. 10-12):

      critic, per example:     D(G(z, c)) − D(x) + lambda_gp · (‖∇D(x̂)‖₂ − 1)²
      generator, per example:  −D(G(z, c))
      info, per example:       lambda_info · −log Q(c | G(z, c))

    c is uniform over `categories`, z ~ N(0, 1). A batch (images [n_critic · b, S, S, 3]
    in [0, 1], or a tuple whose first element they are; anything else in it, such as
    labels, is ignored: training is unsupervised) is split into n_critic sub-batches, each
    mapped to [−1, 1] and, with `rotate`, rotated per image by 0/90/180/270°
    (`random_rotation`): one critic update each (trunk and D's head), with its own code
    and noise. Then one generator update on a fresh (c, z) of b examples, and one Q
    update on the same (c, z) through the updated generator, which moves the generator,
    the shared trunk and Q's head (the reference code's order and variable groups).
    Three optimizers (`compile`): critic (trunk + D head), generator, info (generator +
    trunk + Q head, its own Adam state), Adam(1e-4, 0.5, 0.9) each in the paper.

    Codes, noise, rotations and penalty interpolation weights are drawn statelessly from
    (seed, step counter, sub-step, replica); the step counter is a variable, so a
    restored checkpoint repeats the draws. The model's own draws name Philox, so they are
    the same with and without XLA (the default algorithm is not). The generator runs in
    training mode (synchronised batch norm) in every update.

    `train_step` follows `kerasg2c.training.loop`: losses are scaled by the global batch
    and every returned value is this replica's share of a global mean: critic_loss,
    gradient_penalty (unweighted), wasserstein_gap (D(x) − D(G(z, c))) from the last
    critic update, so critic_loss = lambda_gp · gradient_penalty − wasserstein_gap;
    generator_loss; info_loss (λ₂-weighted NLL, L_Q).

    Inference (images in [0, 1]): `call(images)` and `serving_outputs(images)` give Q's
    category probabilities (the paper's clustering of real cells), `critic_features`
    the features of §IV-B; `generator` (an `InfoWGANGenerator`, exportable on its own
    with `serving_inputs`) and `generate(class_id, noise)` make cells.

    Args:
      categories: values of the categorical code c (k; 5 in the paper).
      noise_dim: length of z (32; 64 for the paper's combined dataset).
      channels: width of every residual block of G and D (128 in the reference code).
      image_size: side of the square cell images (32 in the paper), a power of two ≥ 16.
      n_critic: critic updates per generator update (5).
      lambda_gp: λ₁, the gradient-penalty weight (10).
      lambda_info: λ₂, the weight of L_Q (1).
      rotate: rotation augmentation of the real images.
      seed: integer seed of the stateless draws.

    Examples:

    >>> import numpy as np
    >>> model = InfoWGANGP(categories=3, noise_dim=4, channels=8, image_size=16)
    >>> tuple(model(np.zeros((2, 16, 16, 3), "float32")).shape)
    (2, 3)
    """

    OPTIMIZERS = (
        ("critic_optimizer", "critic_optimizer", "critic_variables"),
        ("generator_optimizer", "generator_optimizer", "generator_variables"),
        ("info_optimizer", "info_optimizer", "info_variables"),
    )

    def __init__(
        self,
        categories=5,
        noise_dim=32,
        channels=128,
        image_size=32,
        n_critic=5,
        lambda_gp=10.0,
        lambda_info=1.0,
        rotate=True,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if n_critic < 1:
            raise ValueError(f"n_critic={n_critic}: need at least 1")
        for name, value in (("lambda_gp", lambda_gp), ("lambda_info", lambda_info)):
            if not value >= 0:
                raise ValueError(f"{name}={value}: need a number ≥ 0")
        self.generator = InfoWGANGenerator(
            categories, noise_dim, channels, image_size, name="generator"
        )
        self.critic = InfoWGANCritic(categories, channels, name="critic")
        self.categories, self.noise_dim = categories, noise_dim
        self.channels, self.image_size = channels, check_image_size(image_size)
        self.n_critic, self.lambda_gp, self.lambda_info = n_critic, lambda_gp, lambda_info
        self.rotate, self.seed = bool(rotate), seed
        self.step_counter = runtime.add_step_counter(self)
        self.critic_optimizer = None
        self.generator_optimizer = None
        self.info_optimizer = None

    # --- Building -----------------------------------------------------------

    def build(self, input_shape):
        """Builds both networks for any batch size (a symbolic pass)."""
        size = self.image_size
        self.critic(keras.KerasTensor((None, size, size, 3)))
        class_id = keras.KerasTensor((None,), dtype="int32")
        self.generator(class_id, keras.KerasTensor((None, self.noise_dim)))

    def compile(self, critic_optimizer, generator_optimizer, info_optimizer, **kwargs):
        """One optimizer for the critic (trunk and D's head), one for the generator, one
        for L_Q (generator, trunk and Q's head); each passes through
        `runtime.optimizer_for_precision`."""
        super().compile(optimizer=None, **kwargs)
        self.critic_optimizer = runtime.optimizer_for_precision(critic_optimizer)
        self.generator_optimizer = runtime.optimizer_for_precision(generator_optimizer)
        self.info_optimizer = runtime.optimizer_for_precision(info_optimizer)

    @property
    def critic_variables(self):
        return self.critic.trunk_variables + self.critic.score_variables

    @property
    def generator_variables(self):
        return self.generator.trainable_variables

    @property
    def info_variables(self):
        return (
            self.generator.trainable_variables
            + self.critic.trunk_variables
            + self.critic.category_variables
        )

    # --- Inference (images in [0, 1]) ---------------------------------------

    def call(self, images, training=None):
        """Q(c | x), [B, categories] float32."""
        return ops.softmax(self.critic.category_logits(_to_signed(images)), axis=-1)

    def serving_outputs(self, images):
        """What a server returns for images [B, S, S, 3] in [0, 1]: Q's probabilities."""
        return {"category_probabilities": self(images, training=False)}

    def critic_features(self, images):
        """The critic's per-block features for a linear SVM (§IV-B), [B, 64 · channels]."""
        return self.critic.block_features(_to_signed(images))

    def generate(self, class_id, noise):
        """Cells [B, S, S, 3] in [0, 1] for class ids [B] and noise [B, noise_dim]."""
        return self.generator.generate(class_id, noise)

    # --- Training -----------------------------------------------------------

    def _seed(self, *values):
        """A [2] int64 seed from (seed, *values, replica id)."""
        return runtime.replica_seed(self.seed, *values)

    def _latent(self, batch, step, sub_step):
        """(c [batch] int32 uniform over the categories, z [batch, noise_dim] ~ N(0, 1))."""
        class_id = tf.random.stateless_uniform(
            [batch],
            seed=self._seed(_CODE, step, sub_step),
            minval=0,
            maxval=self.categories,
            dtype=tf.int32,
            alg="philox",
        )
        noise = tf.random.stateless_normal(
            [batch, self.noise_dim], seed=self._seed(_NOISE, step, sub_step), alg="philox"
        )
        return class_id, noise

    def train_step(self, data):
        images = data[0] if isinstance(data, (tuple, list)) else data
        images = _to_signed(tf.cast(images, tf.float32))
        if images.shape[0] is not None and images.shape[0] % self.n_critic:
            raise ValueError(
                f"a batch of {images.shape[0]} images: need a multiple of n_critic={self.n_critic}"
            )
        size = (self.image_size, self.image_size)
        if tuple(images.shape[1:3]) != size:
            raise ValueError(f"images of {tuple(images.shape[1:3])} pixels: the model makes {size}")
        step = tf.convert_to_tensor(self.step_counter.value)
        # 1. n_critic critic updates, each on its own (rotated) sub-batch, code and noise.
        for sub_step, real in enumerate(tf.split(images, self.n_critic)):
            if self.rotate:
                real = random_rotation(real, self._seed(_ROTATION, step, sub_step))
            logs = self._critic_update(real, step, sub_step)
        # 2. One generator update on a fresh code and noise, as many as a sub-batch.
        class_id, noise = self._latent(tf.shape(real)[0], step, self.n_critic)
        with tf.GradientTape() as tape:
            fakes = self.generator(class_id, noise, training=True)
            per_example = wasserstein.wasserstein_generator_loss(self.critic.score(fakes))
            generator_loss = tf.nn.compute_average_loss(per_example)
            scaled = self.generator_optimizer.scale_loss(generator_loss)
        variables = self.generator_variables
        self.generator_optimizer.apply(tape.gradient(scaled, variables), variables)
        # 3. One Q update on the same code and noise, through the updated generator:
        # L_Q moves the generator, the shared trunk and Q's head.
        with tf.GradientTape() as tape:
            fakes = self.generator(class_id, noise, training=True)
            logits = self.critic.category_logits(fakes)
            per_example = self.lambda_info * classification.cross_entropy(class_id, logits)
            info_loss = tf.nn.compute_average_loss(per_example)
            scaled = self.info_optimizer.scale_loss(info_loss)
        variables = self.info_variables
        self.info_optimizer.apply(tape.gradient(scaled, variables), variables)
        # 4. The step counter, then logs (replica shares of global means).
        self.step_counter.assign_add(1)
        return {**logs, "generator_loss": generator_loss, "info_loss": info_loss}

    def _critic_update(self, real, step, sub_step):
        class_id, noise = self._latent(tf.shape(real)[0], step, sub_step)
        fake = tf.stop_gradient(self.generator(class_id, noise, training=True))
        with tf.GradientTape() as tape:
            wgan = wasserstein.wasserstein_critic_loss(
                self.critic.score(real), self.critic.score(fake)
            )
            penalty = wasserstein.wasserstein_penalty(
                self.critic.score, real, fake, self._seed(_PENALTY, step, sub_step)
            )
            critic_loss = tf.nn.compute_average_loss(wgan + self.lambda_gp * penalty)
            scaled = self.critic_optimizer.scale_loss(critic_loss)
        variables = self.critic_variables
        self.critic_optimizer.apply(tape.gradient(scaled, variables), variables)
        return {
            "critic_loss": critic_loss,
            "gradient_penalty": tf.nn.compute_average_loss(penalty),
            "wasserstein_gap": tf.nn.compute_average_loss(-wgan),
        }

    # --- Serialisation ------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "categories": self.categories,
            "noise_dim": self.noise_dim,
            "channels": self.channels,
            "image_size": self.image_size,
            "n_critic": self.n_critic,
            "lambda_gp": self.lambda_gp,
            "lambda_info": self.lambda_info,
            "rotate": self.rotate,
            "seed": self.seed,
        }


def _to_signed(images):
    """[0, 1] → [−1, 1], the generator's range."""
    return ops.cast(images, "float32") * 2.0 - 1.0
