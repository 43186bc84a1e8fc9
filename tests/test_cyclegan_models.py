"""The CycleGAN model: its losses against hand computation, train_step (plain and
conditional, image pools on two mirrored replicas), the learning-rate schedule,
serialisation and mixed precision (tiny sizes). Its networks: test_cyclegan_networks.py;
the image pool: test_image_pool.py."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_python
from gan_harness import uniform_images
from model_harness import run_model_test, run_saving_test, run_train_step_test

from kerasg2c.losses import adversarial
from kerasg2c.models.cyclegan import CycleGAN
from kerasg2c.models.patch_discriminator import PatchDiscriminator
from kerasg2c.models.resnet_generator import ResnetGenerator
from kerasg2c.optimizers.schedules import ConstantThenLinearDecay
from kerasg2c.training import checkpointing


def smooth_images(n, size=32, seed=0):
    """Bilinearly enlarged 4×4 noise: learnable by a tiny generator in a few steps."""
    return tf.image.resize(uniform_images(n, 4, seed=seed), (size, size)).numpy()


# --- Losses ------------------------------------------------------------------

REAL = np.array([[0.5, 2.0], [-1.0, 1.0]], "float32")  # D(x): 2 examples × 2 patches
FAKE = np.array([[0.0, -2.0], [1.5, 0.5]], "float32")  # D(G(z))
IMG = np.array([[0.5, -0.5], [1.0, 0.0]], "float32")
REC = np.array([[0.0, -0.5], [-1.0, 0.5]], "float32")


def _softplus(x):
    return np.log1p(np.exp(x))


@pytest.mark.parametrize(
    "fn, args, expected",
    [
        (adversarial.least_squares_generator_loss, (FAKE,), ((FAKE - 1) ** 2).mean(1)),
        (
            adversarial.least_squares_discriminator_loss,
            (REAL, FAKE),
            0.5 * (((REAL - 1) ** 2).mean(1) + (FAKE**2).mean(1)),
        ),
        (adversarial.bce_generator_loss, (FAKE,), -np.log(1 / (1 + np.exp(-FAKE))).mean(1)),
        (
            adversarial.bce_discriminator_loss,
            (REAL, FAKE),
            0.5 * (_softplus(-REAL).mean(1) + _softplus(FAKE).mean(1)),
        ),
        (adversarial.cycle_consistency_loss, (IMG, REC), [0.25, 1.25]),
        (adversarial.identity_loss, (IMG, REC), [0.25, 1.25]),
    ],
)
def test_losses_match_hand_computation(fn, args, expected):
    np.testing.assert_allclose(fn(*args), expected, rtol=1e-5)
    # Per-example over any layout: the same values on [B, H, W, C].
    shaped = [a.reshape(2, 1, 2, 1) for a in args]
    np.testing.assert_allclose(fn(*shaped), expected, rtol=1e-5)


# --- CycleGAN ----------------------------------------------------------------


def tiny_cyclegan(num_classes=0, size=32, padding="reflect", ngf=4, **kwargs):
    def generator(name):
        return ResnetGenerator(ngf, 1, padding=padding, name=name)

    model = CycleGAN(
        generator("generator_ab"),
        generator("generator_ba"),
        PatchDiscriminator(4, name="discriminator_a"),
        PatchDiscriminator(4, name="discriminator_b"),
        num_classes=num_classes,
        **kwargs,
    )
    model(np.zeros((1, size, size, 3 + num_classes), "float32"))
    model.compile(keras.optimizers.Adam(2e-3, beta_1=0.5), keras.optimizers.Adam(2e-3, beta_1=0.5))
    model.build_optimizers()
    return model


def test_train_step_moves_every_network_and_lowers_the_cycle_loss():
    model = tiny_cyclegan(ngf=8, pool_size=4)
    state = checkpointing.training_state(model)  # raises if two paths collide
    assert {"model/pool_a/images", "model/pool_b/seen"} <= set(state)
    # Every kernel moves (a conv bias followed by instance norm has no gradient).
    networks = ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")
    kernels = [
        [v for v in getattr(model, name).trainable_variables if len(v.shape) == 4]
        for name in networks
    ]
    assert all(kernels)
    batch = (smooth_images(2, seed=1), smooth_images(2, seed=2))
    logs = [run_train_step_test(model, batch, sum(kernels, []))]
    assert set(logs[0]) == {"g_loss", "d_loss", "cycle_loss", "identity_loss", "adversarial_loss"}
    step = tf.function(model.train_step)
    logs += [step(batch) for _ in range(11)]
    cycle = [float(log["cycle_loss"]) for log in logs]
    assert np.mean(cycle[-3:]) < 0.85 * cycle[0], cycle
    g = logs[-1]
    total = g["adversarial_loss"] + 10 * g["cycle_loss"] + 5 * g["identity_loss"]
    np.testing.assert_allclose(g["g_loss"], total, rtol=1e-5)


def test_conditional_variant():
    x = uniform_images(1, 32, seed=3)

    def with_class(c):
        return np.concatenate([x, np.broadcast_to(np.float32(c), (1, 32, 32, 2))], -1)

    def class_effect(model):
        return float(np.abs(model(with_class([1, 0])) - model(with_class([0, 1]))).max())

    # Zero padding (IHC Table 2): the class reaches the output through the image border.
    model = tiny_cyclegan(num_classes=2, padding="zero", pool_size=2)
    assert model(with_class([1, 0])).shape == (1, 32, 32, 3)
    assert class_effect(model) > 1e-2
    a, b = uniform_images(2, 32, seed=4), uniform_images(2, 32, seed=5)
    classes = np.array([[1.0, 0.0], [0.3, 0.7]], "float32")
    logs = tf.function(model.train_step)(((a, classes), (b, classes[::-1])))
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert model.pool_b.images.shape == (2, 32, 32, 5)  # D input: fake ⊕ the source's class
    # Reflection padding: conv of a constant channel is a constant, which instance norm
    # removes, so the generator cannot see the class at all (only the discriminators do).
    reflect = ResnetGenerator(4, 1, padding="reflect")
    assert class_effect(reflect) < 1e-4


def test_image_pools_under_two_mirrored_replicas(tmp_path):
    worker = os.path.join("tests", "workers", "cyclegan_worker.py")
    proc = run_python([worker, f"--workdir={tmp_path}"], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    pool = result["pool"]
    # Each replica keeps its own pool, filled with its own images only.
    assert all(v < 100 for v in pool["pools"][0]) and all(v > 100 for v in pool["pools"][1])
    assert pool["seen"] == [24, 24]
    assert pool["returned"][:2] == [[[1, 2], [101, 102]], [[3, 4], [103, 104]]]
    later = np.array(pool["returned"][2:])  # replica r, step s: new = 100r + 2s + (1, 2)
    new = 100 * np.arange(2)[None, :, None] + 2 * np.arange(2, 12)[:, None, None] + [1, 2]
    assert 0.3 < np.mean(later != new) < 0.7
    # The loop contract: two replicas give the one-device losses and weights.
    for one, two in zip(result["single_logs"], result["mirrored_logs"]):
        for key in one:
            assert abs(one[key] - two[key]) < 1e-4 * max(1.0, abs(one[key])), key
    # After one step (weights move by up to ~0.1) the replicas hold the one-device weights to
    # rounding (seen: 6e-8). The step runs each generator once on its translation and
    # identity inputs together, so the two devices sum each weight gradient in another
    # order; in this tiny network that rounding grows from step to step (seen: 7e-4 after
    # three steps, where separate calls gave 6e-7), still far inside one step's change.
    assert result["first_step_change"] > 0.01
    assert result["first_step_weight_diff"] < 1e-5
    assert result["max_weight_diff"] < 0.05 * result["first_step_change"]
    # Checkpoints keep the (first replica's) pool and restore it into every replica.
    assert result["pool_filled"] > 0 and result["restored_pool_diff"] == [0.0, 0.0]


# --- Schedule ----------------------------------------------------------------


def test_constant_then_linear_decay():
    schedule = ConstantThenLinearDecay(2e-4, constant_steps=100, decay_steps=50)
    values = [float(schedule(s)) for s in (0, 99, 100, 125, 149, 150, 400)]
    np.testing.assert_allclose(values, [2e-4, 2e-4, 2e-4, 1e-4, 2e-4 / 50, 0.0, 0.0], rtol=1e-5)
    clone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert float(clone(125)) == pytest.approx(1e-4)
    assert float(keras.optimizers.Adam(schedule).learning_rate) == pytest.approx(2e-4)


# --- Serialisation -----------------------------------------------------------


def test_cyclegan_model():
    init_kwargs = dict(
        generator_ab=ResnetGenerator(4, 1, name="generator_ab"),
        generator_ba=ResnetGenerator(4, 1, name="generator_ba"),
        discriminator_a=PatchDiscriminator(4, name="discriminator_a"),
        discriminator_b=PatchDiscriminator(4, name="discriminator_b"),
        pool_size=2,
    )
    run_model_test(CycleGAN, init_kwargs, uniform_images(2, 32, seed=6), (2, 32, 32, 3))


def test_cyclegan_save_and_reload_with_pools_and_optimizers():
    model = tiny_cyclegan(pool_size=2)
    model.pool_a(uniform_images(1, 32, seed=7))
    assert int(model.pool_a.seen.numpy()) == 1  # compared by the round trip
    loaded = run_saving_test(model, uniform_images(2, 32, seed=6))
    # compile() is restored too, with the optimizers built (their states reloaded).
    assert loaded.generator_optimizer.built and loaded.discriminator_optimizer.built


def test_mixed_float16_loss_scales_each_optimizer_once():
    scaled = keras.optimizers.LossScaleOptimizer
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = CycleGAN(
            ResnetGenerator(4, 1, name="generator_ab"),
            ResnetGenerator(4, 1, name="generator_ba"),
            PatchDiscriminator(4, name="discriminator_a"),
            PatchDiscriminator(4, name="discriminator_b"),
        )
        model.compile(scaled(keras.optimizers.Adam()), keras.optimizers.Adam())
        for optimizer in (model.generator_optimizer, model.discriminator_optimizer):
            assert isinstance(optimizer, scaled)
            assert not isinstance(optimizer.inner_optimizer, scaled)
    finally:
        keras.mixed_precision.set_global_policy("float32")
