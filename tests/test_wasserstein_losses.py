"""The WGAN-GP losses (kerasg2c.losses.wasserstein): the critic and generator losses by
hand, the gradient penalty of a linear critic, ε drawn per example from the seed, and the
penalty differentiable in a graph of unknown batch size."""

import numpy as np
import pytest
import tensorflow as tf
from gan_harness import normal

from kerasg2c.losses import wasserstein

# WGAN-GP losses


def test_wasserstein_losses_match_hand_computation():
    real = np.array([[1.0, 3.0], [0.5, 0.5], [-2.0, 0.0]], "float32")
    fake = np.array([[0.0, -1.0], [4.0, 2.0], [1.0, 1.0]], "float32")
    np.testing.assert_allclose(wasserstein.wasserstein_generator_loss(fake), [0.5, -3.0, -1.0])
    np.testing.assert_allclose(
        wasserstein.wasserstein_critic_loss(real, fake), [-0.5 - 2.0, 3.0 - 0.5, 1.0 + 1.0]
    )


def linear_critic(norm):
    """D(x) = ⟨w, flatten(x)⟩ with ‖w‖ = norm: its gradient has norm `norm` everywhere."""
    w = normal((2 * 2 * 3,), seed=3)
    w = tf.constant(norm * w / np.linalg.norm(w))
    return lambda images: tf.reshape(images, (-1, 12)) @ w[:, None]


@pytest.mark.parametrize("norm, expected", [(1.0, 0.0), (3.0, 4.0)])
def test_wasserstein_penalty_of_a_linear_critic(norm, expected):
    real, fake = normal((3, 2, 2, 3)), normal((3, 2, 2, 3), seed=1)
    penalty = wasserstein.wasserstein_penalty(linear_critic(norm), real, fake, tf.constant([1, 2]))
    assert penalty.shape == (3,)
    np.testing.assert_allclose(penalty, np.full(3, expected), atol=1e-4)


def test_wasserstein_penalty_draws_epsilon_per_example_from_the_seed():
    # D(x) = ½‖x‖², so ∇D(x̂) = x̂ = ε·1 + (1 − ε)·0 and the penalty is (ε·√12 − 1)².
    real, fake = np.ones((4, 2, 2, 3), "float32"), np.zeros((4, 2, 2, 3), "float32")

    def critic(images):
        return 0.5 * tf.reduce_sum(tf.square(images), axis=(1, 2, 3))

    def penalty(seed):
        return wasserstein.wasserstein_penalty(critic, real, fake, tf.constant(seed)).numpy()

    epsilon = tf.random.stateless_uniform((4, 1, 1, 1), seed=[5, 7]).numpy().ravel()
    np.testing.assert_allclose(penalty([5, 7]), (epsilon * np.sqrt(12) - 1) ** 2, rtol=1e-5)
    np.testing.assert_array_equal(penalty([5, 7]), penalty([5, 7]))
    assert not np.allclose(penalty([5, 7]), penalty([5, 8]))


def test_wasserstein_penalty_is_differentiable_in_graph_with_unknown_batch():
    # For D(x) = ⟨w, x⟩ the penalty is (‖w‖ − 1)², whose gradient is 2(‖w‖ − 1)·w/‖w‖.
    w = tf.Variable(3.0 * np.eye(12, 1, dtype="float32"))
    spec = tf.TensorSpec((None, 2, 2, 3))

    @tf.function(input_signature=[spec, spec])
    def penalty_and_gradient(real, fake):
        with tf.GradientTape() as tape:
            penalty = wasserstein.wasserstein_penalty(
                lambda images: tf.reshape(images, (-1, 12)) @ w, real, fake, tf.constant([0, 1])
            )
            mean = tf.reduce_mean(penalty)
        return penalty, tape.gradient(mean, w)

    penalty, gradient = penalty_and_gradient(normal((2, 2, 2, 3)), normal((2, 2, 2, 3), seed=1))
    np.testing.assert_allclose(penalty, [4.0, 4.0], rtol=1e-5)
    np.testing.assert_allclose(gradient, 4.0 * np.eye(12, 1), rtol=1e-5, atol=1e-6)
