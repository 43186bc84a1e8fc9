"""CycleGAN networks, losses, image pool, schedule and train_step (tiny sizes, except
the parameter counts, which only build)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_python
from model_harness import run_model_test, run_saving_test, run_train_step_test

from kerasg2c.layers.generator_block import GeneratorResidualBlock
from kerasg2c.layers.instance_norm import InstanceNormalization
from kerasg2c.layers.reflection_padding import ReflectionPadding2D
from kerasg2c.losses import adversarial
from kerasg2c.models.cyclegan import CycleGAN
from kerasg2c.models.image_pool import ImagePool
from kerasg2c.models.patch_discriminator import PatchDiscriminator
from kerasg2c.models.resnet_generator import ResnetGenerator
from kerasg2c.optimizers.schedules import ConstantThenLinearDecay
from kerasg2c.training import checkpointing

RNG = np.random.default_rng(0)


def images(n, size=16, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, channels)).astype("float32")


def smooth_images(n, size=32, seed=0):
    """Bilinearly enlarged 4×4 noise: learnable by a tiny generator in a few steps."""
    return tf.image.resize(images(n, 4, seed=seed), (size, size)).numpy()


# --- Generator ---------------------------------------------------------------


@pytest.mark.parametrize("upsampling", ["deconv3", "deconv4"])
@pytest.mark.parametrize("channels", [3, 5])
def test_generator_keeps_the_shape_and_the_range(upsampling, channels):
    gen = ResnetGenerator(ngf=4, n_blocks=1, upsampling=upsampling)
    y = gen(images(2, 16, channels))
    assert y.shape == (2, 16, 16, 3) and y.dtype == "float32"
    assert np.all(np.abs(y) < 1.0)


@pytest.mark.parametrize(
    "cls, init_kwargs, size, channels, expected_output_shape",
    [
        (ReflectionPadding2D, dict(padding=((1, 2), (3, 0))), 16, 3, (2, 19, 19, 3)),
        (InstanceNormalization, dict(scale=True, center=True), 16, 3, (2, 16, 16, 3)),
        (GeneratorResidualBlock, dict(filters=3), 16, 3, (2, 16, 16, 3)),
        (GeneratorResidualBlock, dict(filters=3, padding="zero"), 16, 3, (2, 16, 16, 3)),
        (ResnetGenerator, dict(ngf=4, n_blocks=1), 16, 3, (2, 16, 16, 3)),
        (
            ResnetGenerator,
            dict(ngf=2, n_blocks=1, upsampling="deconv4", padding="zero", output_channels=4),
            16,
            5,
            (2, 16, 16, 4),
        ),
        # 32 → 16 → 8 → 4 (stride 2) → 3 → 2 (4×4 stride 1, padding 1).
        (PatchDiscriminator, dict(ndf=2), 32, 3, (2, 2, 2, 1)),
        (PatchDiscriminator, dict(ndf=2, variant="ihc"), 16, 5, (2, 1)),
    ],
)
def test_model(cls, init_kwargs, size, channels, expected_output_shape):
    run_model_test(cls, init_kwargs, images(2, size, channels), expected_output_shape)


def test_reference_parameter_counts():
    # The PyTorch reference (junyanz/pytorch-CycleGAN-and-pix2pix, as counted in the
    # gan-compression README): instance norm has no affine parameters, so every conv keeps
    # its bias. Generator: c7s1-64 9,472 + d128 73,856 + d256 295,168 + 9 blocks × 2 ×
    # 590,080 + u128 295,040 + u64 73,792 + c7s1-3 9,411 = 11,378,179.
    gen = ResnetGenerator(ngf=64, n_blocks=9, upsampling="deconv3")
    gen.build((None, 256, 256, 3))
    assert gen.count_params() == 11_378_179
    # deconv4 has 4×4 instead of 3×3 transposed kernels: 286,720 more.
    gen4 = ResnetGenerator(ngf=64, n_blocks=9, upsampling="deconv4")
    gen4.build((None, 256, 256, 3))
    assert gen4.count_params() == 11_378_179 + (256 * 128 + 128 * 64) * 7
    # 70×70 PatchGAN: 4×4 convs 3→64, 64→128, 128→256, 256→512, 512→1, all biased:
    # 3,136 + 131,200 + 524,544 + 2,097,664 + 8,193 = 2,764,737.
    disc = PatchDiscriminator(ndf=64, n_layers=3)
    disc.build((None, 256, 256, 3))
    assert disc.count_params() == 2_764_737


def test_transposed_convs_crop_like_pytorch():
    """PyTorch ConvTranspose2d: out[i·s − p + k] += x[i]·w[k], 0 ≤ o < (H−1)s − 2p + k + op."""
    for upsampling, k, output_padding in (("deconv3", 3, 1), ("deconv4", 4, 0)):
        gen = ResnetGenerator(ngf=2, n_blocks=1, upsampling=upsampling)
        gen.build((None, 16, 16, 3))
        deconv, crop = gen.get_layer("up1_deconv"), gen.get_layer("up1_crop")
        x = RNG.normal(size=(1, 4, 5, 8)).astype("float32")
        kernel, bias = (w.numpy() for w in deconv.weights)  # kernel: (k, k, out, in)
        h, w = (x.shape[1] - 1) * 2 - 2 + k + output_padding, (x.shape[2] - 1) * 2 - 2 + k
        w += output_padding
        expected = np.zeros((h, w, kernel.shape[2])) + bias
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                for a in range(k):
                    for b in range(k):
                        o, q = 2 * i - 1 + a, 2 * j - 1 + b
                        if 0 <= o < h and 0 <= q < w:
                            expected[o, q] += kernel[a, b] @ x[0, i, j]
        assert (h, w) == (8, 10)
        np.testing.assert_allclose(crop(deconv(x))[0], expected, atol=1e-5)


# --- Discriminators ----------------------------------------------------------


def test_patchgan_receptive_field_is_70_pixels():
    # Instance norm mixes every pixel of an image; without it each logit sees one patch.
    disc = PatchDiscriminator(ndf=4, normalization="none")
    x = tf.Variable(images(1, 128, seed=1))
    with tf.GradientTape() as tape:
        logits = disc(x)
        unit = logits[0, 7, 7, 0]
    assert logits.shape == (1, 14, 14, 1)
    grad = np.abs(tape.gradient(unit, x).numpy()[0]).sum(-1)
    rows, cols = np.nonzero(grad)
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70
    box = grad[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    assert np.all(box > 0), "every pixel of the window reaches the logit"
    assert (rows.min(), cols.min()) == (8 * 7 - 23, 8 * 7 - 23)


def test_discriminator_outputs():
    # Reference: 256² → 30×30 patch map; the IHC variant pools to one logit per image.
    patch = PatchDiscriminator(ndf=4)
    assert patch.compute_output_shape((2, 256, 256, 3)) == (2, 30, 30, 1)
    with pytest.raises(ValueError, match="zero or negative"):
        patch(images(1, 16))  # too small for a 4-layer map (oneDNN would not say so)
    ihc = PatchDiscriminator(ndf=4, variant="ihc")
    y = ihc(images(2, 32, 5))
    assert y.shape == (2, 1) and y.dtype == "float32"


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


# --- Image pool --------------------------------------------------------------


def _batch(values):
    return np.asarray(values, "float32").reshape(-1, 1, 1, 1)


def test_pool_returns_new_images_until_full_then_a_mix():
    pool = ImagePool(4)
    assert pool(_batch([1, 2])).numpy().ravel().tolist() == [1, 2]
    assert pool(_batch([3, 4])).numpy().ravel().tolist() == [3, 4]
    new = old = 0
    for step in range(3, 60):
        values = [2 * step - 1, 2 * step]
        out = pool(_batch(values)).numpy().ravel()
        for v, o in zip(values, out):
            assert o <= v, "the new image or one seen before it (this batch included)"
            new, old = new + (o == v), old + (o != v)
        assert set(pool.images.numpy().ravel()) <= set(range(1, 2 * step + 1))
    assert 0.35 < old / (old + new) < 0.65


def test_pool_processes_a_batch_as_the_sequential_reference():
    # One slot: every swap exchanges with whatever the previous swap stored.
    pool = ImagePool(1, seed=3)
    pool(_batch([0]))
    content = 0.0
    for step in range(1, 6):
        values = np.arange(8) + 10.0 * step
        out = pool(_batch(values)).numpy().ravel()
        for v, o in zip(values, out):
            if o != v:  # swapped: got the slot's content, left itself there
                assert o == content
                content = v
        assert pool.images.numpy().ravel().tolist() == [content]


def test_pool_under_xla_matches_graph_mode():
    results = []
    for jit in (False, True):
        pool = ImagePool(4, seed=5)
        pool.build((None, 2, 2, 1))
        query = tf.function(pool.call, jit_compile=jit)
        results.append([query(tf.fill((2, 2, 2, 1), float(s))).numpy() for s in range(8)])
    np.testing.assert_array_equal(results[0], results[1])  # Philox bits in both
    flat = np.array(results[1])[:, :, 0, 0, 0]
    assert (flat[:2] == [[0, 0], [1, 1]]).all()  # filling
    assert (flat[2:] < np.arange(2, 8)[:, None]).any()  # old images come back


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
    x = images(1, 32, seed=3)

    def with_class(c):
        return np.concatenate([x, np.broadcast_to(np.float32(c), (1, 32, 32, 2))], -1)

    def class_effect(model):
        return float(np.abs(model(with_class([1, 0])) - model(with_class([0, 1]))).max())

    # Zero padding (IHC Table 2): the class reaches the output through the image border.
    model = tiny_cyclegan(num_classes=2, padding="zero", pool_size=2)
    assert model(with_class([1, 0])).shape == (1, 32, 32, 3)
    assert class_effect(model) > 1e-2
    a, b = images(2, 32, seed=4), images(2, 32, seed=5)
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
    assert result["max_weight_diff"] < 1e-5
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


def test_instance_norm_normalises_each_image_and_channel():
    norm = InstanceNormalization()
    x = images(2, 8, 4) * np.arange(1, 5) + np.arange(4)
    y = norm(x).numpy()
    assert not norm.weights  # affine=False, as the reference
    np.testing.assert_allclose(y.mean((1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var((1, 2)), 1, atol=1e-3)


def test_reflection_padding_reflects():
    x = np.arange(3, dtype="float32").reshape(1, 1, 3, 1)
    y = ReflectionPadding2D((0, 2))(x)
    assert y.numpy().ravel().tolist() == [2, 1, 0, 1, 2, 1, 0]


def test_image_pool_config_round_trip():
    pool = ImagePool(7, seed=3, name="p")
    clone = ImagePool.from_config(pool.get_config())
    assert (clone.size, clone.seed, clone.name) == (7, 3, "p")


def test_cyclegan_model():
    init_kwargs = dict(
        generator_ab=ResnetGenerator(4, 1, name="generator_ab"),
        generator_ba=ResnetGenerator(4, 1, name="generator_ba"),
        discriminator_a=PatchDiscriminator(4, name="discriminator_a"),
        discriminator_b=PatchDiscriminator(4, name="discriminator_b"),
        pool_size=2,
    )
    run_model_test(CycleGAN, init_kwargs, images(2, 32, seed=6), (2, 32, 32, 3))


def test_cyclegan_save_and_reload_with_pools_and_optimizers():
    model = tiny_cyclegan(pool_size=2)
    model.pool_a(images(1, 32, seed=7))
    assert int(model.pool_a.seen.numpy()) == 1  # compared by the round trip
    loaded = run_saving_test(model, images(2, 32, seed=6))
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
