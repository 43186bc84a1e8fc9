"""InfoWGAN-GP (Hu et al. §III-A, §IV): the networks' shapes, the critic's gradient penalty,
rotation augmentation, one train_step and resumable randomness, Q learning the code on
generated cells, serialisation and serving (tiny networks: 16×16 cells, 8 channels). One
device against two replicas: test_infowgan_replicas.py; the paper configs:
test_infowgan_paper_configs.py."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_harness import run_config_test, run_saving_test, run_train_step_test

from kerasg2c.losses import wasserstein
from kerasg2c.models.infowgan import (
    InfoWGANCritic,
    InfoWGANGenerator,
    InfoWGANGP,
    random_rotation,
)
from kerasg2c.training import checkpointing

K, NOISE, SIZE, CHANNELS = 3, 8, 16, 8
LOG_NAMES = {"critic_loss", "gradient_penalty", "wasserstein_gap", "generator_loss", "info_loss"}


def tiny_model(lr=1e-3, **kwargs):
    """Built (every variable) and compiled, its optimizers built."""
    kwargs = {
        "categories": K,
        "noise_dim": NOISE,
        "channels": CHANNELS,
        "image_size": SIZE,
        **kwargs,
    }
    model = InfoWGANGP(**kwargs)
    model(np.zeros((1, kwargs["image_size"], kwargs["image_size"], 3), "float32"))
    model.compile(*(keras.optimizers.Adam(lr, 0.5, 0.9) for _ in range(3)))
    model.build_optimizers()
    return model


def cells(n, size=SIZE, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, size, size, 3)).astype("float32")


# --- Networks ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [16, 32])
def test_network_shapes(size):
    generator = InfoWGANGenerator(K, NOISE, CHANNELS, size)
    critic = InfoWGANCritic(K, CHANNELS)
    noise = np.random.default_rng(0).normal(size=(4, NOISE)).astype("float32")
    images = generator(np.array([0, 1, 2, 0]), noise, training=True)
    assert images.shape == (4, size, size, 3) and images.dtype == "float32"
    assert -1 <= np.min(images) and np.max(images) <= 1
    assert len(generator.blocks) == {16: 2, 32: 3}[size]  # 4 × 4 doubled to the size
    scores, logits = critic(images)
    assert scores.shape == (4, 1) and logits.shape == (4, K)
    # Four blocks, each max-pooled to 4 × 4: 4 · 16 · 128 = 8192 at the paper's width.
    features = critic.block_features(images)
    assert features.shape == (4, 4 * 16 * CHANNELS)
    np.testing.assert_allclose(critic.score(images), scores, atol=1e-6)
    np.testing.assert_allclose(critic.category_logits(images), logits, atol=1e-6)


def test_d_and_q_share_the_trunk_and_only_it():
    critic = InfoWGANCritic(K, CHANNELS)
    x = tf.constant(cells(4) * 2 - 1)
    critic(x)
    with tf.GradientTape(persistent=True) as tape:
        score = tf.reduce_sum(critic.score(x))
        logits = tf.reduce_sum(critic.category_logits(x) ** 2)
    trunk = critic.trunk_variables
    assert len(trunk) == len(critic.trainable_variables) - 3  # D's kernel, Q's kernel and bias
    for gradient in tape.gradient(score, trunk) + tape.gradient(logits, trunk):
        assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0
    assert all(g is None for g in tape.gradient(score, critic.category_variables))
    assert all(g is None for g in tape.gradient(logits, critic.score_variables))


def test_critic_scores_each_image_on_its_own():
    # No normalisation: the gradient penalty's ∇D(x̂_i) is that of example i alone.
    critic = InfoWGANCritic(K, CHANNELS)
    x = tf.constant(cells(4))
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = critic.score(x)[0, 0]
    gradient = tape.gradient(score, x)
    assert float(tf.reduce_max(tf.abs(gradient[1:]))) == 0
    assert float(tf.reduce_max(tf.abs(gradient[0]))) > 0


def test_gradient_penalty_is_taken_at_the_interpolates():
    critic = InfoWGANCritic(K, CHANNELS)
    real, fake = cells(4, seed=1) * 2 - 1, cells(4, seed=2) * 2 - 1
    critic(real)
    seed = tf.constant([7, 3])
    penalty = wasserstein.wasserstein_penalty(critic.score, real, fake, seed).numpy()
    epsilon = tf.random.stateless_uniform((4, 1, 1, 1), seed=seed).numpy()
    interpolates = tf.constant(epsilon * real + (1 - epsilon) * fake)
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = tf.reduce_sum(critic.score(interpolates))
    norms = np.linalg.norm(tape.gradient(scores, interpolates).numpy().reshape(4, -1), axis=1)
    np.testing.assert_allclose(penalty, (norms - 1) ** 2, rtol=1e-4)
    assert np.all(penalty > 0)  # a random critic is not 1-Lipschitz with unit slope


def test_rotation_turns_each_image_by_a_multiple_of_90_degrees():
    images = cells(32, size=8)
    rotated = random_rotation(tf.constant(images), tf.constant([1, 2])).numpy()
    assert rotated.shape == images.shape
    turns = []
    for image, result in zip(images, rotated):
        matches = [k for k in range(4) if np.array_equal(np.rot90(image, k), result)]
        assert len(matches) == 1
        turns.append(matches[0])
    assert set(turns) == {0, 1, 2, 3}  # every angle, including none
    again = random_rotation(tf.constant(images), tf.constant([1, 2])).numpy()
    np.testing.assert_array_equal(again, rotated)  # a function of the seed
    with pytest.raises(ValueError, match="rotation needs squares"):
        random_rotation(tf.zeros((1, 8, 4, 3)), tf.constant([1, 2]))


def test_refuses_bad_arguments():
    for kwargs, name in (
        ({"categories": 1}, "categories=1"),
        ({"noise_dim": 0}, "noise_dim=0"),
        ({"channels": 0}, "channels=0"),
        ({"image_size": 24}, "image_size=24"),
        ({"image_size": 8}, "image_size=8"),
        ({"n_critic": 0}, "n_critic=0"),
        ({"lambda_gp": -1.0}, "lambda_gp=-1.0"),
        ({"lambda_info": float("nan")}, "lambda_info=nan"),
    ):
        with pytest.raises(ValueError, match=name):
            InfoWGANGP(**kwargs)
    model = tiny_model(n_critic=2)
    with pytest.raises(ValueError, match="multiple of n_critic=2"):
        model.train_step(cells(3))
    with pytest.raises(ValueError, match=r"images of \(32, 32\) pixels"):
        model.train_step(cells(4, size=32))


# --- Training ----------------------------------------------------------------------


def test_train_step_moves_every_network_and_ignores_labels():
    model = tiny_model(n_critic=1)
    assert "model/step_counter" in checkpointing.training_state(model)  # unique paths
    labels = np.zeros(4, "int32")  # a labelled dataset's labels are ignored
    logs = run_train_step_test(model, (cells(4), labels))
    assert set(logs) == LOG_NAMES
    assert int(model.step_counter.numpy()) == 1
    expected = 10.0 * logs["gradient_penalty"] - logs["wasserstein_gap"]
    np.testing.assert_allclose(logs["critic_loss"], expected, rtol=1e-4, atol=1e-4)


def test_q_learns_the_code_and_a_restored_state_repeats_a_step():
    # L_Q = −log Q(c | G(z, c)) starts near log k (Q cannot tell the codes apart) and
    # falls as G makes the codes visible and Q reads them (measured: 1.10 over the first
    # 10 steps, 0.90 over steps 30-40); the critic keeps finite losses. n_critic=1: at
    # this learning rate (20 × the paper's) more critic updates of the shared trunk kept
    # L_Q near log k for 80 steps.
    model = tiny_model(lr=2e-3, n_critic=1)
    state = checkpointing.training_state(model)  # what a checkpoint restores
    start = {name: v.numpy() for name, v in state.items()}
    step = tf.function(model.train_step)
    data = cells(512, seed=4)
    history = []
    for i in range(40):
        logs = step(data[16 * i % 512 :][:16])
        assert all(np.isfinite(float(v)) for v in logs.values()), logs
        history.append(float(logs["info_loss"]))
        if i == 0:
            first_logs = {name: float(v) for name, v in logs.items()}
            after = {name: v.numpy() for name, v in state.items()}
    first, last = np.mean(history[:5]), np.mean(history[-5:])
    assert last < first and last < np.log(K), history
    # Codes, noise, rotations and ε are functions of (seed, step counter, sub-step): the
    # restored start state repeats the first step exactly.
    for name, variable in state.items():
        variable.assign(start[name])
    again = step(data[:16])
    assert {name: float(v) for name, v in again.items()} == first_logs
    for name, variable in state.items():
        np.testing.assert_array_equal(variable.numpy(), after[name], err_msg=name)


# --- Serialisation and serving -----------------------------------------------------


def test_config_keras_round_trip_and_serving(tmp_path):
    model = tiny_model()
    images = cells(4, seed=5)
    run_config_test(model, images)
    loaded = run_saving_test(model, images)  # call: Q's probabilities
    assert loaded.critic_optimizer.built and loaded.info_optimizer.built
    probabilities = loaded.serving_outputs(images)["category_probabilities"].numpy()
    assert probabilities.shape == (4, K)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(
        loaded.critic_features(images), model.critic_features(images), atol=1e-6
    )
    assert model.critic_features(images).shape == (4, 64 * CHANNELS)
    # The generator alone, as a run would save it under generators/: (class id, noise) in,
    # uint8 cells out, declared by serving_inputs.
    path = tmp_path / "generator.keras"
    model.generator.save(path)
    generator = keras.saving.load_model(path, compile=False)
    assert set(generator.serving_inputs()) == {"class_id", "noise"}
    class_id = np.array([0, 1, 2, 1], "int32")
    noise = np.random.default_rng(6).normal(size=(4, NOISE)).astype("float32")
    cell = generator.serving_outputs(class_id, noise)["image"].numpy()
    assert cell.shape == (4, SIZE, SIZE, 3) and cell.dtype == np.uint8
    expected = np.round(model.generate(class_id, noise).numpy() * 255)
    assert np.max(np.abs(cell.astype(float) - expected)) <= 1
    # Two inputs: serving.export's check for a three-channel image input lets it through.
    assert "input_shape" not in generator.get_build_config()
