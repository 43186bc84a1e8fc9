"""G2C model: shared branches, cross-stain attention, freeze schedule, training, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_harness import run_model_test, run_saving_test, run_train_step_test

import kerasg2c.models  # noqa: F401  (registers the generator for load_model)
from kerasg2c.layers.cross_stain_attention import CrossStainAttention
from kerasg2c.layers.residual_block import ResidualBlock
from kerasg2c.models.classifier import Classifier
from kerasg2c.models.g2c import G2C
from kerasg2c.models.resnet_generator import ResnetGenerator
from kerasg2c.training import checkpointing

SMALL = dict(widths=(8, 16), blocks_per_unit=1, stem_width=8, sync_batchnorm=False)
SIZE = 32


def make_g2c(m, attention=False, build=True, **kwargs):
    generators = [ResnetGenerator(ngf=4, n_blocks=1) for _ in range(m)]
    model = G2C(generators, num_classes=3, attention=attention, **{**SMALL, **kwargs})
    if build:
        model.build((None, SIZE, SIZE, 3))
    return model


def batch(n=4, seed=0):
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.uniform(size=(n, SIZE, SIZE, 3)), tf.float32)
    labels = tf.constant(rng.integers(0, 3, size=n), tf.int32)
    return images, labels


def snapshot(variables):
    return [np.array(v.numpy()) for v in variables]


@pytest.mark.parametrize("m, attention", [(0, False), (2, True)])
def test_model(m, attention):
    generators = [ResnetGenerator(ngf=4, n_blocks=1) for _ in range(m)]
    init_kwargs = dict(generators=generators, num_classes=3, attention=attention, **SMALL)
    model = run_model_test(G2C, {**init_kwargs, "attention_reduction": 4}, batch(2)[0], (2, 3))
    assert len(model.attention) == (2 if attention else 0)


def test_train_step_moves_the_classifier_and_the_generators():
    model = make_g2c(1, attention=True, attention_reduction=4)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.5))
    kernels = [v for v in model.generator_variables if len(v.shape) == 4]
    logs = run_train_step_test(model, batch(), model.classifier_variables + kernels)
    assert set(logs) == {"loss", "accuracy"}


def test_cross_stain_attention_parameters_and_config():
    layer = CrossStainAttention(num_branches=4, reduction=4)
    # Away from 0 so that y / x is well conditioned.
    x = tf.random.stateless_uniform((4, 2, 5, 5, 8), seed=(0, 1), minval=0.1, maxval=1.0)
    y = layer(x)
    assert y.shape == x.shape
    assert layer.count_params() == CrossStainAttention.parameter_count(4, 8, 4)
    # 2·N·C·hidden + hidden + N·C with N·C = 32, hidden = 8.
    assert layer.count_params() == 2 * 32 * 8 + 8 + 32
    # Excitation only scales: gates in (0, 1), same sign, per (branch, example, channel).
    ratio = (y / x).numpy()
    assert np.all((ratio > 0) & (ratio < 1))
    assert np.allclose(ratio, ratio[:, :, :1, :1, :], atol=1e-5)
    # Every branch's gates depend on every branch's responses.
    x2 = tf.concat([x[:1], x[1:] * 3.0], axis=0)
    assert not np.allclose(layer(x2)[0] / x2[0], ratio[0])
    clone = CrossStainAttention.from_config(layer.get_config())
    assert (clone.num_branches, clone.reduction) == (4, 4)
    with pytest.raises(ValueError, match="stacked branches"):
        CrossStainAttention(3)(tf.zeros((2, 5, 5, 8)))


def test_branch_weights_are_shared():
    counts = {}
    for m in (0, 1, 3):
        model = make_g2c(m)
        counts[m] = (len(model.backbone.weights), model.backbone.count_params())
        assert model.head.kernel.shape == ((m + 1) * 16, 3)
        assert model.parameter_counts()["generators"] == sum(
            g.count_params() for g in model.generators
        )
    assert counts[0] == counts[1] == counts[3]


def test_attention_adds_exactly_its_formula():
    for m in (0, 3):
        plain, with_attention = make_g2c(m), make_g2c(m, attention=True, attention_reduction=4)
        blocks = [layer for layer in plain.backbone.body if isinstance(layer, ResidualBlock)]
        expected = sum(CrossStainAttention.parameter_count(m + 1, b.filters, 4) for b in blocks)
        assert with_attention.count_params() - plain.count_params() == expected
        assert with_attention.parameter_counts()["attention"] == expected


def test_paper_sized_attention_overhead():
    """The AAAI paper's PAS_ALL+ (§Discussions): attention adds "merely 5.27 % more
    parameters". At the papers' widths (stem 64, units 64-512 of 3 residual blocks, M = 3,
    the SE-Net r = 16 the paper follows, three 6-block ngf-64 deconv-4 generators) our block
    adds 2,101,200: 12.0 % of the classifier alone, 5.0 % of classifier + generators. The
    paper's figure matches the second base (the count, not the block, differs); built at
    32 px (the counts do not depend on the image size), never run."""
    model = G2C(
        [ResnetGenerator(ngf=64, n_blocks=6, upsampling="deconv4") for _ in range(3)],
        num_classes=2,
        sync_batchnorm=False,
        attention=True,
        attention_reduction=16,
    )
    model.build((None, 32, 32, 3))
    counts = model.parameter_counts()
    assert counts["attention"] == 2_101_200
    assert counts["attention_overhead"] == pytest.approx(0.1202, abs=5e-4)
    assert counts["attention_overhead_total"] == pytest.approx(0.0527, abs=5e-3)


def test_stain_attention_is_each_blocks_mean_gate_per_branch():
    model = make_g2c(2, attention=True)
    images, _ = batch()
    gates = model.stain_attention(images).numpy()  # [K, N, B]
    assert gates.shape == (len(model.attention), 3, 4)
    assert ((gates > 0) & (gates < 1)).all()
    # Block 0 by hand: the stem and first residual block on the three stains, then the gates.
    stains = model.generate(images, training=False)
    x = model.backbone.stem(tf.concat([images, *stains], axis=0), training=False)
    x = model.backbone.body[0](x, training=False)
    stacked = tf.reshape(x, (3, 4, *x.shape[1:]))
    expected = tf.reduce_mean(model.attention[0].gates(stacked), axis=-1).numpy()
    np.testing.assert_allclose(gates[0], expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no cross-stain attention"):
        make_g2c(2).stain_attention(images)


def test_m0_is_the_plain_classifier():
    images, _ = batch()
    classifier = Classifier(3, **SMALL)
    classifier(images)
    model = make_g2c(0)
    assert [(w.path.split("/", 1)[1], w.shape) for w in model.weights] == [
        (w.path.split("/", 1)[1], w.shape) for w in classifier.weights
    ]
    model.set_weights(classifier.get_weights())
    for training in (False, True):
        np.testing.assert_array_equal(
            model(images, training=training).numpy(), classifier(images, training=training).numpy()
        )
    assert model.generators_trainable is None
    model.set_generators_trainable(True)  # a no-op without generators


def test_return_stains_shapes_and_ranges():
    images, _ = batch(2)
    logits, stains = make_g2c(2)(images, return_stains=True)
    assert logits.shape == (2, 3) and stains.shape == (2, 2, SIZE, SIZE, 3)
    assert float(tf.reduce_min(stains)) >= 0.0 and float(tf.reduce_max(stains)) <= 1.0
    _, none = make_g2c(0)(images, return_stains=True)
    assert none.shape == (0, 2, SIZE, SIZE, 3)


def test_freeze_then_unfreeze_without_retracing():
    model = make_g2c(1, attention=True, attention_reduction=4)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.5))
    model.build_optimizers()
    assert model.generator_optimizer.get_config()["momentum"] == 0.5
    assert model.generator_optimizer is not model.optimizer
    step = tf.function(model.train_step)
    data = batch()
    generator_vars = model.generators[0].trainable_variables

    model.set_generators_trainable(False)
    before_g, before_c = snapshot(generator_vars), snapshot(model.classifier_variables)
    step(data)
    step(data)
    for old, new in zip(before_g, snapshot(generator_vars)):
        assert old.tobytes() == new.tobytes()  # bitwise unchanged
    assert any(
        not np.array_equal(o, n) for o, n in zip(before_c, snapshot(model.classifier_variables))
    )

    model.set_generators_trainable(True)
    step(data)
    assert any(not np.array_equal(o, n) for o, n in zip(before_g, snapshot(generator_vars)))
    assert step.experimental_get_tracing_count() == 1
    # What a checkpoint holds: every variable by a unique path, both optimizers.
    state = checkpointing.training_state(model)
    assert "model/generators_trainable" in state
    assert any(k.startswith("generator_optimizer/") for k in state)
    assert any(k.startswith("optimizer/") for k in state)


def test_frozen_generator_ablation():
    model = make_g2c(1, train_generators=False)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.5))
    model.build_optimizers()
    assert model.generator_optimizer is None and model.generator_variables == []
    model.set_generators_trainable(True)  # stays off in the ablation
    assert float(model.generators_trainable.numpy()) == 0.0
    before = snapshot(model.generators[0].weights)
    model.train_step(batch())
    for old, new in zip(before, snapshot(model.generators[0].weights)):
        assert old.tobytes() == new.tobytes()


def test_weight_decay_on_generators_is_refused():
    model = make_g2c(1)
    with pytest.raises(ValueError, match="weight_decay"):
        model.compile(keras.optimizers.SGD(0.1), keras.optimizers.AdamW(1e-3, weight_decay=0.01))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_train_step_lowers_the_loss(jit_compile):
    keras.utils.set_random_seed(1)
    model = make_g2c(1, attention=True, attention_reduction=4)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.5))
    model.build_optimizers()
    step = tf.function(model.train_step, jit_compile=jit_compile)
    data = batch(6, seed=3)
    losses = [float(step(data)["loss"]) for _ in range(10)]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_save_and_load_round_trip():
    model = make_g2c(2, attention=True, attention_reduction=4)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.5))
    model.build_optimizers()
    model.set_generators_trainable(False)
    loaded = run_saving_test(model, batch(2)[0])
    assert loaded.use_attention
    assert [g.name for g in loaded.generators] == ["generator_1", "generator_2"]
    assert float(loaded.generators_trainable.numpy()) == 0.0
    assert loaded.generator_optimizer.built and loaded.optimizer.built
    assert loaded.generator_optimizer is not loaded.optimizer


def test_loaded_generators_with_one_name_get_unique_paths(tmp_path):
    generator = ResnetGenerator(ngf=4, n_blocks=1, name="generator_ab")
    generator.build((None, SIZE, SIZE, 3))
    path = str(tmp_path / "g.keras")
    generator.save(path)
    exported = [keras.saving.load_model(path) for _ in range(2)]
    model = G2C(exported, num_classes=3, **SMALL)
    model.build((None, SIZE, SIZE, 3))
    paths = [w.path for w in model.weights]
    assert len(paths) == len(set(paths))
    for copy in model.generators:  # copies carry the exported weights
        for a, b in zip(copy.get_weights(), generator.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_alexnet_branch_attention_and_round_trip():
    """The transfer branch: shapes on 52 px patches, attention after each of its four
    convolutions after the stem, and a .keras round trip."""
    kwargs = dict(branch="alexnet", widths=(8, 12, 8, 8), stem_width=4, sync_batchnorm=False)
    generators = [ResnetGenerator(ngf=4, n_blocks=1) for _ in range(2)]
    model = G2C(generators, num_classes=2, attention=True, attention_reduction=2, **kwargs)
    model.build((None, 52, 52, 3))
    assert model.backbone.compute_output_shape((None, 52, 52, 3)) == (None, 13, 13, 8)
    expected = sum(CrossStainAttention.parameter_count(3, w, 2) for w in (8, 12, 8, 8))
    assert model.parameter_counts()["attention"] == expected
    images = tf.random.stateless_uniform((2, 52, 52, 3), seed=(3, 4))
    assert model(images, training=False).shape == (2, 2)
    assert run_saving_test(model, images).branch == "alexnet"


def test_image_size_the_generators_cannot_keep_is_named():
    model = G2C([ResnetGenerator(ngf=4, n_blocks=1)], num_classes=2, **SMALL)
    with pytest.raises(ValueError, match="multiple of 4"):
        model(tf.zeros((1, 50, 50, 3)))


def test_unknown_branch_names_the_argument():
    with pytest.raises(ValueError, match="G2C: branch='vgg': expected one of"):
        G2C([], num_classes=2, branch="vgg")


def test_mixed_float16_loss_scales_each_optimizer_once():
    """The jobs pass optimizers already wrapped for mixed_float16; compile keeps one
    LossScaleOptimizer around each, and a step trains with both loss scales."""
    scaled = keras.optimizers.LossScaleOptimizer
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = make_g2c(1)
        for optimizers in ((scaled(keras.optimizers.SGD(0.1)), None), (keras.optimizers.SGD(0.1),)):
            model.compile(*optimizers)
            for optimizer in (model.optimizer, model.generator_optimizer):
                assert isinstance(optimizer, scaled)
                assert not isinstance(optimizer.inner_optimizer, scaled)
        kernels = [v for v in model.generator_variables if len(v.shape) == 4]
        run_train_step_test(model, batch(), model.classifier_variables + kernels)
    finally:
        keras.mixed_precision.set_global_policy("float32")
