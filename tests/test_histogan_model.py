"""HistoGAN (paper §3.1.1, §4.2.1): the generator's stages, the critics' normalisation
modes, one train_step, resumable randomness, the penalised critic's batch and serialisation
(tiny networks: stage 1 is 16×16, stage 2 32×32). A short training run:
test_histogan_training.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from gan_harness import NOISE_DIM, NUM_CLASSES, batch, tiny_critic, tiny_generator, tiny_histogan
from model_harness import run_config_test, run_saving_test, run_train_step_test

from kerasg2c.losses import wasserstein
from kerasg2c.models.histogan import HistoGAN, HistoGANCritic, HistoGANGenerator
from kerasg2c.models.histogan_critic import CRITIC_NORMS
from kerasg2c.training import checkpointing

LOG_NAMES = {"critic_loss", "generator_loss", "gradient_penalty", "wasserstein_gap"}


# --- Networks ----------------------------------------------------------------


@pytest.mark.parametrize(
    "base_shape, sizes",
    [
        ((3, 3), [(48, 48), (96, 96)]),  # PCam
        ((4, 2), [(64, 32), (128, 64), (256, 128)]),  # cervical
    ],
)
def test_generator_stage_sizes_and_range(base_shape, sizes):
    generator = HistoGANGenerator(
        2, noise_dim=4, base_shape=base_shape, channels=2, n_stages=len(sizes), res_blocks=1
    )
    noise = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    labels = np.array([0, 1])
    images = generator((noise, labels), training=True)
    assert [tuple(i.shape) for i in images] == [(2, *size, 3) for size in sizes]
    for image in images:
        assert image.dtype == "float32" and 0 <= np.min(image) and np.max(image) <= 1
    last = generator((noise, labels), training=False)[-1]
    np.testing.assert_array_equal(generator.generate(labels, noise), last)


@pytest.mark.parametrize("critic_norm", CRITIC_NORMS)
def test_critic_scores_and_batch_coupling(critic_norm):
    critic = tiny_critic(critic_norm)
    images, labels = batch(4, 16)
    x = tf.constant(images)

    def coupling(minibatch):
        """max |∂ score_0 / ∂ x_j|, j ≠ 0: how much another example moves example 0's score."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = critic(x, labels, training=True, minibatch=minibatch)[0, 0]
        return float(tf.reduce_max(tf.abs(tape.gradient(score, x)[1:])))

    scores = critic(x, labels, training=True)
    assert scores.shape == (4, 1) and scores.dtype == "float32"
    assert coupling(minibatch=True) > 0  # minibatch discrimination compares examples
    if critic_norm == "batch":
        assert coupling(minibatch=False) > 0  # batch statistics couple them anyway
    else:
        assert coupling(minibatch=False) == 0  # the gradient penalty's pass
    clone = HistoGANCritic.from_config(critic.get_config())
    clone(x, labels)
    clone.set_weights(critic.get_weights())
    np.testing.assert_allclose(clone(x, labels), critic(x, labels), atol=1e-6)


def test_batch_critic_sees_a_colour_offset_shared_by_all_generated_images():
    # Scored in separate passes, the BN after the first conv removes a per-channel offset
    # common to the whole generated batch (only zero-padded borders still show it); the
    # joint pass HistoGAN uses in "batch" mode normalises both with the same statistics.
    keras.utils.set_random_seed(0)
    critic = HistoGANCritic(2, channels=8, n_down=2, critic_norm="batch", minibatch_kernels=4)
    real = np.random.default_rng(0).uniform(0.3, 0.9, (8, 16, 16, 3)).astype("float32")
    fake = real - np.array([0.0, 0.0, 0.2], "float32")
    labels = np.zeros(8, "int32")
    real_scores, fake_scores = HistoGAN._scores(critic, real, fake, labels)
    joint = abs(float(tf.reduce_mean(real_scores - fake_scores)))
    separate = abs(
        float(
            tf.reduce_mean(
                critic(real, labels, training=True) - critic(fake, labels, training=True)
            )
        )
    )
    assert joint > 3 * separate  # measured: 0.082 vs 0.011


def test_refuses_bad_arguments():
    generator = tiny_generator()
    with pytest.raises(ValueError, match="critics: got 1"):
        HistoGAN(generator, [tiny_critic()], NUM_CLASSES, NOISE_DIM)
    with pytest.raises(ValueError, match="num_classes=2"):
        HistoGAN(generator, [tiny_critic(), tiny_critic()], 2, NOISE_DIM)
    with pytest.raises(ValueError, match="critic_norm='group'"):
        HistoGANCritic(NUM_CLASSES, critic_norm="group")
    with pytest.raises(ValueError, match="n_stages=0"):
        HistoGANGenerator(NUM_CLASSES, n_stages=0)
    model = tiny_histogan(critic_norm="none", n_critic=2)
    with pytest.raises(ValueError, match="multiple of n_critic=2"):
        model.train_step(batch(3, 32))
    with pytest.raises(ValueError, match=r"images of \(16, 16\) pixels"):
        model.train_step(batch(4, 16))


# --- Training ------------------------------------------------------------------


def test_train_step_moves_every_network():
    model = tiny_histogan(n_critic=1)
    assert "model/step_counter" in checkpointing.training_state(model)  # unique paths
    # SAGAN's γ starts at 0, which leaves the attention convs without gradient until it
    # has moved; set it so that one step with one critic update reaches them all.
    for network in (model.generator, *model.critics):
        network.attention.gamma.assign(0.1)
    logs = run_train_step_test(model, batch(4, 32))
    assert set(logs) == LOG_NAMES
    assert int(model.step_counter.numpy()) == 1
    # critic_loss = Σ_k (D(fake) − D(real) + 50·GP): −2 stages · gap + 50 · penalty.
    expected = 50.0 * logs["gradient_penalty"] - 2 * logs["wasserstein_gap"]
    np.testing.assert_allclose(logs["critic_loss"], expected, rtol=1e-4, atol=1e-4)


def test_spectral_norms_iterate_once_per_critic_update():
    model = tiny_histogan(n_critic=2, lr=0.0)  # lr 0: only the power iteration moves kernels
    layers = [
        layer
        for critic in model.critics
        for layer in (critic.conv, critic.attention.query, critic.attention.output_projection)
    ]
    state = [v for layer in layers for v in (layer.vector_u, layer.kernel)]
    before = [v.numpy() for v in state]
    images, labels = batch(4, 32)
    model.train_step((tf.constant(images), tf.constant(labels)))
    after_step = [v.numpy() for v in state]
    for variable, value in zip(state, before):
        variable.assign(value)
    for _ in range(2):  # n_critic updates, each one power iteration
        for critic in model.critics:
            critic.power_iterate()
    for variable, value in zip(state, after_step):
        np.testing.assert_allclose(variable.numpy(), value, rtol=1e-5, atol=1e-6)


def test_step_counter_and_restored_state_repeat_a_step():
    model = tiny_histogan(critic_norm="none", n_stages=1, n_critic=2)
    state = checkpointing.training_state(model)  # what a checkpoint restores
    start = {name: v.numpy() for name, v in state.items()}
    step = tf.function(model.train_step)
    data = batch(8, 16, seed=1)
    first = step(data)
    after = {name: v.numpy() for name, v in state.items()}
    assert int(model.step_counter.numpy()) == 1
    for name, variable in state.items():
        variable.assign(start[name])
    again = step(data)
    # Noise and penalty draws are functions of (seed, step counter, sub-step, stage).
    for name in LOG_NAMES:
        assert float(again[name]) == float(first[name]), name
    for name, variable in state.items():
        np.testing.assert_array_equal(variable.numpy(), after[name], err_msg=name)


# --- Serialisation -------------------------------------------------------------


def test_config_and_keras_round_trips():
    model = tiny_histogan(critic_norm="layer")
    labels = np.array([0, 2, 1, 1])
    run_config_test(model, labels)
    loaded = run_saving_test(model, labels)  # call: the last stage, noise from the counter
    assert loaded.generator_optimizer.built and loaded.critic_optimizer.built
    noise = np.random.default_rng(0).normal(size=(4, NOISE_DIM)).astype("float32")
    for mine, theirs in zip(model.generator((noise, labels)), loaded.generator((noise, labels))):
        np.testing.assert_array_equal(mine, theirs)


# --- Which batch the gradient penalty sees -----------------------------------


def test_the_penalty_sees_the_interpolates_alone_by_default_and_each_choice_differs():
    # One fixed batch, critic and ε: the penalty (and its gradient) depends on which batch
    # the critic sees when penalised. The default scores the interpolates as a batch of
    # their own through the full critic (WGAN-GP's Algorithm 1).
    model = tiny_histogan(critic_norm="batch", n_stages=1)
    assert model.penalty_batch == "interpolates"
    critic = model.critics[0]
    real, labels = batch(4, size=16)
    labels = tf.constant(labels, tf.int32)
    fake = tf.constant(np.random.default_rng(1).uniform(0, 1, real.shape), tf.float32)
    seed = tf.constant([3, 4], tf.int64)

    def penalty(choice):
        model.penalty_batch = choice
        with tf.GradientTape() as tape:
            fn = model.penalised_critic(critic, real, fake, labels)
            value = tf.reduce_mean(wasserstein.wasserstein_penalty(fn, real, fake, seed))
        variables = critic.trainable_variables
        grads = [
            np.zeros(v.shape) if g is None else np.ravel(tf.convert_to_tensor(g))
            for v, g in zip(variables, tape.gradient(value, variables))
        ]
        return float(value), np.concatenate([np.ravel(g) for g in grads])

    alone = wasserstein.wasserstein_penalty(
        lambda x: critic(x, labels, training=True), real, fake, seed
    )
    values = {choice: penalty(choice) for choice in ("interpolates", "joint", "per_example")}
    np.testing.assert_allclose(values["interpolates"][0], float(tf.reduce_mean(alone)), rtol=1e-5)
    for a, b in [("interpolates", "joint"), ("interpolates", "per_example")]:
        assert abs(values[a][0] - values[b][0]) > 1e-6 * max(1.0, abs(values[a][0])), (a, b)
        assert not np.allclose(values[a][1], values[b][1]), (a, b)
    with pytest.raises(ValueError, match="penalty_batch"):
        tiny_histogan(penalty_batch="all")
