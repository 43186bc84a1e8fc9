"""HistoGAN trained for 400 steps on flat two-colour images: the Wasserstein distance that
an independent critic estimates falls, and the generated classes take their colours."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from gan_harness import NOISE_DIM, tiny_histogan

from kerasg2c.losses import wasserstein
from kerasg2c.models.histogan import HistoGANCritic

COLOURS = np.array([[0.8, 0.3, 0.3], [0.3, 0.3, 0.8]], "float32")


def flat_colours(n, seed):
    """16×16 images of two classes: a flat class colour plus N(0, 0.05²) pixel noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = COLOURS[labels][:, None, None, :] + rng.normal(0, 0.05, (n, 16, 16, 3))
    return np.clip(images, 0, 1).astype("float32"), labels


class CriticEstimate:
    """The Wasserstein-1 distance between real and generated images as a WGAN-GP critic
    estimates it: a fresh critic (same initial weights and optimizer state each time,
    no batch coupling) trained for `steps` steps with the generator fixed, then
    E[D(real)] − E[D(fake)] on all images."""

    def __init__(self, real, labels, steps=150):
        self.real, self.labels, self.steps = real, labels, steps
        self.critic = HistoGANCritic(2, channels=8, n_down=2, critic_norm="none")
        self.critic(real[:1], labels[:1])
        # minibatch=False throughout: the minibatch kernel stays out of the update.
        self.variables = [v for v in self.critic.trainable_variables if "minibatch" not in v.path]
        self.optimizer = keras.optimizers.Adam(1e-3, 0.5, 0.9)
        self.optimizer.build(self.variables)
        self.initial = [v.numpy() for v in self.critic.weights + self.optimizer.variables]
        self.step = tf.function(self._step)

    def _score(self, images, labels):
        return self.critic(images, labels, training=True, minibatch=False)

    def _step(self, real, fake, labels, seed):
        with tf.GradientTape() as tape:
            penalty = wasserstein.wasserstein_penalty(
                lambda x: self._score(x, labels), real, fake, seed
            )
            loss = wasserstein.wasserstein_critic_loss(
                self._score(real, labels), self._score(fake, labels)
            )
            loss = tf.reduce_mean(loss + 10.0 * penalty)
        self.optimizer.apply(tape.gradient(loss, self.variables), self.variables)

    def __call__(self, generator):
        noise = np.random.default_rng(1).normal(size=(len(self.labels), NOISE_DIM))
        fake = generator.generate(self.labels, noise.astype("float32")).numpy()
        for variable, value in zip(self.critic.weights + self.optimizer.variables, self.initial):
            variable.assign(value)
        rng = np.random.default_rng(2)
        for i in range(self.steps):
            index = rng.integers(0, len(self.labels), 64)
            self.step(self.real[index], fake[index], self.labels[index], tf.constant([i, 0]))
        score = self.critic(self.real, self.labels, minibatch=False)
        return float(np.mean(score) - np.mean(self.critic(fake, self.labels, minibatch=False)))


@pytest.mark.slow
def test_training_lowers_the_critic_estimate_of_the_wasserstein_distance():
    # The logged gap comes from a critic that learns alongside the generator (it starts
    # near 0 and grows as the critic learns), so the distance is estimated instead by
    # an independent critic, trained from the same start against the generator before
    # and after 400 steps. Over data seeds 0, 11, 22, 33, 44, 55 (this test: 0) the
    # estimate fell to 0.15-0.42 of its start; the class colours (red, blue) are the
    # part of it a person can check: both classes start grey.
    real, labels = flat_colours(512, seed=0)
    model = tiny_histogan(
        critic_norm="none", n_stages=1, num_classes=2, n_critic=2, gp_weight=10.0, lr=2e-3
    )
    estimate = CriticEstimate(real, labels)
    before = estimate(model.generator)
    step = tf.function(model.train_step)
    rng = np.random.default_rng(4)
    for _ in range(400):
        index = rng.integers(0, len(labels), 16)
        logs = step((real[index], labels[index]))
    assert all(np.isfinite(float(v)) for v in logs.values())
    after = estimate(model.generator)
    assert after < 0.6 * before, (before, after)
    noise = np.random.default_rng(3).normal(size=(256, NOISE_DIM)).astype("float32")
    classes = np.arange(256) % 2
    colours = model.generator.generate(classes, noise).numpy().mean((1, 2))
    red, blue = colours[classes == 0].mean(0), colours[classes == 1].mean(0)
    assert red[0] - red[2] > 0.1 and blue[2] - blue[0] > 0.1, (red, blue)
