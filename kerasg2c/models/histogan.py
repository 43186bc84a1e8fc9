"""HistoGAN (Xue et al., "Selective synthetic augmentation with HistoGAN for improved
histopathology image classification", Medical Image Analysis 2021, §3.1.1, §4.2.1):
a multi-stage class-conditional generator trained with WGAN-GP against one critic per
stage. The networks are in `histogan_generator.py` and `histogan_critic.py`."""

import functools

import keras
import tensorflow as tf
from keras import ops

from kerasg2c.losses import wasserstein
from kerasg2c.models.histogan_critic import HistoGANCritic
from kerasg2c.models.histogan_generator import HistoGANGenerator
from kerasg2c.models.multi_optimizer import MultiOptimizerModel
from kerasg2c.training import runtime

__all__ = ["PENALTY_BATCHES", "HistoGAN", "HistoGANCritic", "HistoGANGenerator"]

# What a critic sees when penalised: the interpolates alone, the interpolates with the
# update's real and generated images in one pass, or without minibatch features.
PENALTY_BATCHES = ("interpolates", "joint", "per_example")

# First value folded into every stateless seed: which draw it is.
_NOISE, _PENALTY, _SAMPLE = 1, 2, 3


@keras.saving.register_keras_serializable(package="kerasg2c")
class HistoGAN(MultiOptimizerModel, keras.Model):
    """A `HistoGANGenerator` and one `HistoGANCritic` per stage, trained by one
    `train_step` with WGAN-GP on every stage (HistoGAN §4.2.1; Gulrajani et al. 2017,
    Algorithm 1):

      critic, per example:  Σ_k D_k(G_k(z, y)) − D_k(x_k) + gp_weight · GP_k
      generator:            Σ_k −D_k(G_k(z, y))

    x_k is the real image box-averaged (area down-sampling by the exact factor) to
    stage k's size. A batch (images [n_critic·b, H, W, 3] in [0, 1] at the last
    stage's size, int labels [n_critic·b]) is split into n_critic sub-batches: one
    critic update each, with its own noise; then one generator update on fresh noise
    with the last sub-batch's labels (the data's class frequencies, as when
    conditioning on real labels). The generator runs in training mode in both
    updates. In "batch" mode real and generated images go through a critic in one
    joint pass (as BigGAN's reference code runs its discriminator), in the critic and
    the generator update alike: with separate passes each batch is normalised by its
    own statistics, and the BN after the first convolution removes any colour offset
    shared by all generated images, so neither the critic nor the generator's
    gradient would see it (only at the zero-padded borders). Other modes score real
    and generated images separately. The n_critic updates are unrolled into the one graph
    (XLA, tf.distribute), so tracing grows with n_critic × stages.
    Noise and penalty interpolation weights are drawn statelessly from (seed,
    step counter, sub-step, stage, replica); the step counter is a variable, so a
    restored checkpoint repeats the draws.

    Which batch a critic sees when penalised (`penalty_batch`; the paper says only
    "WGAN-GP loss", §4.2.1): "interpolates" (default) scores the interpolates x̂ as a
    batch of their own through the full critic, so batch statistics and minibatch
    discrimination are the interpolates' (as WGAN-GP's Algorithm 1 and its reference
    code, whose batch-norm critics are called on the interpolates alone); "joint" scores
    them in one pass with that update's real and generated images (the scoring batch's
    statistics, a third of the pass); "per_example" zeroes the minibatch features
    (minibatch=False), so with `critic_norm` layer or none each example's penalty is a
    function of that example only.

    `train_step` follows `kerasg2c.training.loop`: losses are scaled by the global
    batch and every returned value is this replica's share of a global mean. The
    logs come from the last critic update (plus the generator update):
    critic_loss, gradient_penalty (Σ_k GP_k, unweighted), wasserstein_gap (mean over
    stages of D(x_k) − D(G_k)), generator_loss; critic_loss = gp_weight ·
    gradient_penalty − n_stages · wasserstein_gap.

    `call(labels)` or `call((noise, labels))` returns the last stage's images (noise
    drawn from (seed, step counter) when not given); calling it once builds every
    network, as the loop needs before it builds the optimizers.

    Args:
      generator: a `HistoGANGenerator`.
      critics: one `HistoGANCritic` per generator stage, coarse to fine.
      num_classes, noise_dim: must match the generator's.
      n_critic: critic updates per generator update (5 in WGAN-GP).
      gp_weight: λ of the gradient penalty (50 in HistoGAN §4.2.1).
      penalty_batch: "interpolates", "joint" or "per_example" (see above).
      seed: integer seed of the stateless draws.

    Examples:

    >>> generator = HistoGANGenerator(2, noise_dim=8, base_shape=(1, 1), channels=8)
    >>> critics = [HistoGANCritic(2, channels=8, n_down=2, name=f"d{k}") for k in (1, 2)]
    >>> tuple(HistoGAN(generator, critics, 2, 8)(keras.ops.array([0, 1])).shape)
    (2, 32, 32, 3)
    """

    OPTIMIZERS = (
        ("generator_optimizer", "generator_optimizer", "generator_variables"),
        ("critic_optimizer", "critic_optimizer", "critic_variables"),
    )

    def __init__(
        self,
        generator,
        critics,
        num_classes,
        noise_dim,
        n_critic=5,
        gp_weight=50.0,
        penalty_batch="interpolates",
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        critics = list(critics)
        if len(critics) != generator.n_stages:
            raise ValueError(
                f"critics: got {len(critics)}, the generator has {generator.n_stages} stages"
            )
        if (num_classes, noise_dim) != (generator.num_classes, generator.noise_dim):
            raise ValueError(
                f"num_classes={num_classes}, noise_dim={noise_dim}: the generator has "
                f"{generator.num_classes} and {generator.noise_dim}"
            )
        if n_critic < 1:
            raise ValueError(f"n_critic={n_critic}: need at least 1")
        if penalty_batch not in PENALTY_BATCHES:
            raise ValueError(f"penalty_batch={penalty_batch!r}: expected one of {PENALTY_BATCHES}")
        self.penalty_batch = penalty_batch
        self.generator, self.critics = generator, critics
        self.num_classes, self.noise_dim = num_classes, noise_dim
        self.n_critic, self.gp_weight, self.seed = n_critic, gp_weight, seed
        self.step_counter = runtime.add_step_counter(self)
        self.generator_optimizer = self.critic_optimizer = None

    # --- Building -----------------------------------------------------------

    def build(self, input_shape):
        """Builds every network for any batch size (a symbolic pass; the labels' or the
        (noise, labels) shape given here is not needed)."""
        labels = keras.KerasTensor((None,), dtype="int32")
        noise = keras.KerasTensor((None, self.noise_dim))
        for critic, images in zip(self.critics, self.generator((noise, labels))):
            critic(images, labels)

    def compile(self, generator_optimizer, critic_optimizer, **kwargs):
        """One optimizer for the generator, one for all critics; each passes through
        `runtime.optimizer_for_precision`."""
        super().compile(optimizer=None, **kwargs)
        self.generator_optimizer = runtime.optimizer_for_precision(generator_optimizer)
        self.critic_optimizer = runtime.optimizer_for_precision(critic_optimizer)

    @property
    def generator_variables(self):
        return self.generator.trainable_variables

    @property
    def critic_variables(self):
        return [v for critic in self.critics for v in critic.trainable_variables]

    # --- Inference ----------------------------------------------------------

    def call(self, inputs, training=None):
        if isinstance(inputs, (list, tuple)):
            noise, labels = inputs
        else:
            labels = inputs
            step = tf.convert_to_tensor(self.step_counter.value)
            noise = self._noise(ops.shape(labels)[0], _SAMPLE, step)
        return self.generator((noise, labels), training=training)[-1]

    # --- Training -----------------------------------------------------------

    def _seed(self, *values):
        """A [2] int64 seed from (seed, *values, replica id)."""
        return runtime.replica_seed(self.seed, *values)

    def _noise(self, batch, *stream):
        """z ~ N(0, 1) [batch, noise_dim] from the seed of `stream` (a tag first)."""
        return tf.random.stateless_normal([batch, self.noise_dim], self._seed(*stream))

    def train_step(self, data):
        images, labels = data
        images, labels = tf.cast(images, tf.float32), tf.cast(labels, tf.int32)
        if images.shape[0] is not None and images.shape[0] % self.n_critic:
            raise ValueError(
                f"a batch of {images.shape[0]} images: need a multiple of n_critic={self.n_critic}"
            )
        step = tf.convert_to_tensor(self.step_counter.value)
        # 1. n_critic critic updates, each on its own sub-batch and noise.
        for sub_step, (real, sub_labels) in enumerate(
            zip(tf.split(images, self.n_critic), tf.split(labels, self.n_critic))
        ):
            critic_logs = self._critic_update(real, sub_labels, step, sub_step)
        # 2. One generator update on fresh noise, with the last sub-batch's labels (and,
        # for joint passes, its images).
        noise = self._noise(tf.shape(sub_labels)[0], _NOISE, step, self.n_critic)
        with tf.GradientTape() as tape:
            fakes = self.generator((noise, sub_labels), training=True)
            per_example = sum(
                wasserstein.wasserstein_generator_loss(
                    self._scores(critic, _downsample(real, _factor(fakes, k)), fake, sub_labels)[1]
                )
                for k, (critic, fake) in enumerate(zip(self.critics, fakes))
            )
            generator_loss = tf.nn.compute_average_loss(per_example)
            scaled = self.generator_optimizer.scale_loss(generator_loss)
        variables = self.generator_variables
        self.generator_optimizer.apply(tape.gradient(scaled, variables), variables)
        # 3. The step counter, then logs (replica shares of global means).
        self.step_counter.assign_add(1)
        return {**critic_logs, "generator_loss": generator_loss}

    @staticmethod
    def _scores(critic, real, fake, labels):
        """(real scores, generated scores) in training mode: one joint pass in "batch"
        mode (shared batch statistics), two passes otherwise."""
        if critic.critic_norm != "batch":
            return critic(real, labels, training=True), critic(fake, labels, training=True)
        scores = critic(
            tf.concat([real, fake], axis=0), tf.concat([labels, labels], axis=0), training=True
        )
        return tf.split(scores, 2)

    def penalised_critic(self, critic, real, fake, labels):
        """images → scores: the critic as the gradient penalty sees it (`penalty_batch`)."""
        if self.penalty_batch == "joint":

            def joint(interpolated):
                images = tf.concat([real, fake, interpolated], axis=0)
                scores = critic(images, tf.concat([labels] * 3, axis=0), training=True)
                return tf.split(scores, 3)[2]

            return joint
        minibatch = self.penalty_batch == "interpolates"
        return functools.partial(critic, labels=labels, training=True, minibatch=minibatch)

    def _critic_update(self, real, labels, step, sub_step):
        for critic in self.critics:
            critic.power_iterate()  # once per update, before the scoring and penalty passes
        noise = self._noise(tf.shape(labels)[0], _NOISE, step, sub_step)
        fakes = [tf.stop_gradient(f) for f in self.generator((noise, labels), training=True)]
        if tuple(real.shape[1:3]) != tuple(fakes[-1].shape[1:3]):
            raise ValueError(
                f"images of {tuple(real.shape[1:3])} pixels: the last stage makes "
                f"{tuple(fakes[-1].shape[1:3])}"
            )
        loss = penalty = gap = 0.0
        with tf.GradientTape() as tape:
            for k, (critic, fake) in enumerate(zip(self.critics, fakes)):
                real_k = _downsample(real, _factor(fakes, k))
                real_scores, fake_scores = self._scores(critic, real_k, fake, labels)
                critic_fn = self.penalised_critic(critic, real_k, fake, labels)
                seed = self._seed(_PENALTY, step, sub_step, k)
                gp = wasserstein.wasserstein_penalty(critic_fn, real_k, fake, seed)
                wgan = wasserstein.wasserstein_critic_loss(real_scores, fake_scores)
                loss += wgan + self.gp_weight * gp
                penalty += gp
                gap -= wgan
            critic_loss = tf.nn.compute_average_loss(loss)
            scaled = self.critic_optimizer.scale_loss(critic_loss)
        variables = self.critic_variables
        self.critic_optimizer.apply(tape.gradient(scaled, variables), variables)
        return {
            "critic_loss": critic_loss,
            "gradient_penalty": tf.nn.compute_average_loss(penalty),
            "wasserstein_gap": tf.nn.compute_average_loss(gap / len(self.critics)),
        }

    # --- Serialisation ------------------------------------------------------

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "generator": serialize(self.generator),
            "critics": [serialize(critic) for critic in self.critics],
            "num_classes": self.num_classes,
            "noise_dim": self.noise_dim,
            "n_critic": self.n_critic,
            "gp_weight": self.gp_weight,
            "penalty_batch": self.penalty_batch,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        deserialize = keras.saving.deserialize_keras_object
        config = dict(config)
        config["generator"] = deserialize(config["generator"])
        config["critics"] = [deserialize(critic) for critic in config["critics"]]
        return cls(**config)


def _factor(fakes, k):
    """How many times smaller stage k's images are than the last stage's."""
    return fakes[-1].shape[1] // fakes[k].shape[1]


def _downsample(images, factor):
    """Box (area) average over factor × factor blocks; the identity for factor 1."""
    if factor == 1:
        return images
    return ops.average_pool(images, pool_size=factor, strides=factor, padding="valid")
