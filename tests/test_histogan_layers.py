"""HistoGAN's layers: conditional batch norm, SAGAN self-attention with its step spectral
normalisation, minibatch discrimination (on two replicas too), saved in one functional
model. The WGAN-GP losses: test_wasserstein_losses.py."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_python
from gan_harness import normal
from model_harness import run_model_test, run_saving_test

from kerasg2c.layers.conditional_batch_norm import ConditionalBatchNorm
from kerasg2c.layers.minibatch_discrimination import MinibatchDiscrimination
from kerasg2c.layers.self_attention import SelfAttention
from kerasg2c.layers.spectral_normalization import StepSpectralNormalization

# ConditionalBatchNorm


def conditional_batch_norm(x, labels, num_classes=3):
    """A built layer with known, distinct γ and β tables."""
    layer = ConditionalBatchNorm(num_classes, sync_batchnorm=False)
    layer(x, labels)
    layer.gamma.assign(normal((num_classes, x.shape[-1]), seed=1))
    layer.beta.assign(normal((num_classes, x.shape[-1]), seed=2))
    return layer


def test_conditional_batch_norm_scales_and_shifts_by_class():
    x, labels = normal((4, 3, 3, 2)), np.array([0, 2, 1, 2])
    layer = conditional_batch_norm(x, labels)
    gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
    normalised = (x - x.mean((0, 1, 2))) / np.sqrt(x.var((0, 1, 2)) + 1e-5)
    expected = normalised * gamma[labels, None, None] + beta[labels, None, None]

    np.testing.assert_allclose(layer(x, labels, training=True), expected, atol=1e-5)
    one_hot = np.eye(3, dtype="float32")[labels]
    np.testing.assert_allclose(layer(x, one_hot, training=True), expected, atol=1e-5)


def test_conditional_batch_norm_shares_moving_statistics_across_classes():
    x, labels = normal((4, 3, 3, 2)), np.array([0, 2, 1, 2])
    layer = conditional_batch_norm(x, labels)
    layer(x, labels, training=True)

    # One pair of moving statistics [C], updated from the whole batch (momentum 0.9).
    assert [v.shape for v in layer.non_trainable_weights] == [(2,), (2,)]
    np.testing.assert_allclose(layer.norm.moving_mean, 0.1 * x.mean((0, 1, 2)), atol=1e-6)
    np.testing.assert_allclose(layer.norm.moving_variance, 0.9 + 0.1 * x.var((0, 1, 2)), atol=1e-6)
    # Inference normalises every class with them; only γ[c], β[c] differ.
    mean, variance = layer.norm.moving_mean.numpy(), layer.norm.moving_variance.numpy()
    normalised = (x - mean) / np.sqrt(variance + 1e-5)
    for c in range(3):
        expected = normalised * layer.gamma.numpy()[c] + layer.beta.numpy()[c]
        np.testing.assert_allclose(layer(x, np.full(4, c), training=False), expected, atol=1e-5)


def test_conditional_batch_norm_config_round_trip():
    x, labels = normal((4, 3, 3, 2)), np.array([0, 2, 1, 2])
    layer = ConditionalBatchNorm(3, momentum=0.8, epsilon=1e-3, sync_batchnorm=False)
    layer(x, labels)
    config = layer.get_config()
    clone = ConditionalBatchNorm.from_config(config)
    clone(x, labels)
    assert clone.get_config() == config
    layer.gamma.assign(normal((3, 2), seed=1))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x, labels), layer(x, labels), atol=1e-6)


def test_conditional_batch_norm_refuses_bad_labels():
    with pytest.raises(ValueError, match="one-hot"):
        ConditionalBatchNorm(3)(normal((2, 3, 3, 2)), np.zeros((2, 4), "float32"))


# SelfAttention


def reference_self_attention(layer, x):
    """SAGAN's block in numpy from the layer's 1×1 kernels."""
    kernel = {name: getattr(layer, name).kernel.numpy()[0, 0] for name in ("query", "key")}
    kernel["value"] = layer.value.kernel.numpy()[0, 0]
    kernel["output"] = layer.output_projection.kernel.numpy()[0, 0]
    b, h, w, _ = x.shape

    def pooled(y):  # 2×2 max-pool, then positions flattened
        return y.reshape(b, h // 2, 2, w // 2, 2, -1).max((2, 4)).reshape(b, h * w // 4, -1)

    query = (x @ kernel["query"]).reshape(b, h * w, -1)
    key, value = pooled(x @ kernel["key"]), pooled(x @ kernel["value"])
    logits = query @ key.transpose(0, 2, 1)
    attention = np.exp(logits - logits.max(-1, keepdims=True))
    attention /= attention.sum(-1, keepdims=True)
    attended = (attention @ value).reshape(b, h, w, -1)
    return x + layer.gamma.numpy() * attended @ kernel["output"]


def test_self_attention_shapes_config_and_saving():
    layer = run_model_test(SelfAttention, {}, normal((2, 4, 6, 16)), (2, 4, 6, 16))
    shapes = {v.path.split("/")[-2]: v.shape for v in layer.trainable_weights if v.ndim == 4}
    assert shapes == {
        "query": (1, 1, 16, 2),
        "key": (1, 1, 16, 2),
        "value": (1, 1, 16, 8),
        "output": (1, 1, 8, 16),
    }


def test_self_attention_is_identity_until_gamma_moves():
    x = normal((2, 4, 4, 16))
    layer = SelfAttention()
    np.testing.assert_array_equal(layer(x), x)

    layer.gamma.assign(0.7)
    y = layer(x)
    assert np.abs(y - x).max() > 1e-3
    np.testing.assert_allclose(y, reference_self_attention(layer, x), atol=1e-5)


@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_self_attention_gradients_reach_query_key_value_once_gamma_moves(gamma):
    x, weights = normal((2, 4, 4, 16)), normal((2, 4, 4, 16), seed=1)
    layer = SelfAttention()
    layer(x)
    layer.gamma.assign(gamma)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * weights)
    convs = [layer.query, layer.key, layer.value, layer.output_projection]
    gradients = tape.gradient(loss, [conv.kernel for conv in convs] + [layer.gamma])
    conv_norms = [float(tf.norm(g)) for g in gradients[:-1]]
    assert float(tf.abs(gradients[-1])) > 0
    if gamma:
        assert min(conv_norms) > 0, conv_norms
    else:
        assert max(conv_norms) == 0, conv_norms


def test_self_attention_spectral_norm_iterates_on_power_iterate_only():
    x = normal((2, 4, 4, 16))
    layer = SelfAttention(spectral_norm=True)
    layer(x)
    convs = [layer.query, layer.key, layer.value, layer.output_projection]
    assert all(isinstance(conv, StepSpectralNormalization) for conv in convs)
    before = [conv.vector_u.numpy() for conv in convs]
    layer(x, training=False)
    layer(x, training=True)
    assert all(np.array_equal(b, c.vector_u) for b, c in zip(before, convs))
    layer.power_iterate()
    assert not any(np.array_equal(b, c.vector_u) for b, c in zip(before, convs))


def test_step_spectral_normalization_brings_the_largest_singular_value_to_one():
    conv = keras.layers.Conv2D(6, 3)
    layer = StepSpectralNormalization(conv)
    x = normal((2, 5, 5, 4))
    layer(x)
    conv.kernel.assign(3.0 * conv.kernel)
    sigma = np.linalg.svd(conv.kernel.numpy().reshape(-1, 6), compute_uv=False)[0]
    assert sigma > 1.5
    for _ in range(30):  # the power method converges over iterations, as across steps
        layer.power_iterate()
    sigma = np.linalg.svd(conv.kernel.numpy().reshape(-1, 6), compute_uv=False)[0]
    np.testing.assert_allclose(sigma, 1.0, rtol=1e-3)
    np.testing.assert_allclose(layer(x, training=True), conv(x), rtol=1e-6)


def _penalty_and_up_gradients(policy, x, labels):
    """Under `policy`, XLA-compiled: the gradient of a gradient penalty through
    self-attention (its key kernel) and of a loss through `_UpBlock` (its conv kernel)."""
    from kerasg2c.models.histogan_generator import _UpBlock

    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        attention, up = SelfAttention(), _UpBlock(8, 2, name="up")
        attention(x), up(x, labels)
        attention.gamma.assign(0.5)

        @tf.function(jit_compile=True)
        def gradients(x):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    inner.watch(x)
                    score = tf.reduce_sum(tf.cast(attention(x), tf.float32) ** 2)
                norm = tf.reduce_sum(inner.gradient(score, x) ** 2)
            penalty = outer.gradient(norm, attention.trainable_variables)[0]
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.cast(up(x, labels, training=True), tf.float32))
            return penalty, tape.gradient(loss, up.conv.kernel)

        return [np.asarray(t, np.float32) for t in gradients(x)]
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_histogan_layers_compile_with_xla_in_mixed_precision(policy):
    """A gradient penalty differentiates self-attention twice (XLA has no second derivative
    of a half-precision max pool) and the generator's bilinear up-sampling once (nor a
    half-precision resize gradient): both compile and match the float32 pass."""
    x, labels = tf.constant(normal((2, 4, 4, 8), seed=3)), tf.constant([0, 1])
    full = _penalty_and_up_gradients("float32", x, labels)
    for f, half in zip(full, _penalty_and_up_gradients(policy, x, labels)):
        assert np.all(np.isfinite(half))
        # Half precision moves a few units across ReLU's kink: compare as a whole.
        assert np.linalg.norm(half - f) < 0.1 * np.linalg.norm(f)


def test_self_attention_refuses_too_few_channels():
    with pytest.raises(ValueError, match="C ≥ 8"):
        SelfAttention()(normal((1, 4, 4, 4)))


# MinibatchDiscrimination


def test_minibatch_discrimination_shapes_config_and_saving():
    run_model_test(
        MinibatchDiscrimination, dict(num_kernels=3, kernel_dim=2), normal((4, 5)), (4, 8)
    )


def test_minibatch_discrimination_matches_the_reference_and_couples_the_batch():
    x = normal((4, 5))
    layer = MinibatchDiscrimination(num_kernels=3, kernel_dim=2)
    y = layer(x).numpy()
    m = np.einsum("ba,akd->bkd", x, layer.kernel.numpy())
    closeness = np.exp(-np.abs(m[:, None] - m[None]).sum(-1))  # [B, B, K]
    expected = closeness.sum(1) - 1.0  # j ≠ i
    np.testing.assert_array_equal(y[:, :5], x)
    np.testing.assert_allclose(y[:, 5:], expected, rtol=1e-5)

    changed = x.copy()
    changed[1] += 1.0
    y_changed = layer(changed).numpy()
    assert np.abs(y_changed[0, 5:] - y[0, 5:]).min() > 1e-6
    np.testing.assert_allclose(layer(x[:1]).numpy()[0, 5:], 0.0)


# Run in a fresh process (the CPU is split into 2 devices before TensorFlow starts them):
# the layer on one device and under MirroredStrategy on 2 replicas, from the same kernel,
# on the same global batch of 8 (replica r gets rows 4r … 4r + 3). Besides the outputs it
# compares the gradients of a per-example loss (summed over replicas, as the optimizers
# sum them) wrt the inputs and the kernel, and the kernel gradient of a penalty on the
# input gradient (the second-order pass of WGAN-GP). Prints one JSON line of
# {name: [max |difference|, max |one-device value|]}.
MINIBATCH_REPLICA_SCRIPT = r"""
import json

from kerasg2c.training import runtime

runtime.split_cpu(2)

import numpy as np
import tensorflow as tf

from kerasg2c.layers.minibatch_discrimination import MinibatchDiscrimination

rng = np.random.default_rng(0)
x = rng.normal(size=(8, 5)).astype("float32")
w = rng.normal(size=(8, 8)).astype("float32")  # weights of a per-example loss
one, two = runtime.make_strategy("default"), runtime.make_strategy("mirrored", 2)
assert two.num_replicas_in_sync == 2
layers = []
for strategy in (one, two):
    with strategy.scope():
        layers.append(MinibatchDiscrimination(num_kernels=3, kernel_dim=2))
        layers[-1].build((None, 5))
layers[1].kernel.assign(layers[0].kernel)


def outputs_and_gradients(layer, x, w):
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.square(y * w))
        penalty = tf.reduce_sum(tf.square(inner.gradient(loss, x)))
    grad_x, grad_kernel = outer.gradient(loss, [x, layer.kernel])
    return y, grad_x, grad_kernel, outer.gradient(penalty, layer.kernel)


alone = [t.numpy() for t in outputs_and_gradients(layers[0], tf.constant(x), tf.constant(w))]
batch = next(iter(two.experimental_distribute_dataset(tf.data.Dataset.from_tensors((x, w)))))
split = two.run(tf.function(lambda x, w: outputs_and_gradients(layers[1], x, w)), args=batch)
rows = [np.concatenate([t.numpy() for t in two.experimental_local_results(s)]) for s in split[:2]]
sums = [two.reduce("SUM", s, axis=None).numpy() for s in split[2:]]
names = ["outputs", "input_gradients", "kernel_gradients", "penalty_kernel_gradients"]
print(json.dumps({
    name: [float(np.max(np.abs(a - b))), float(np.max(np.abs(a)))]
    for name, a, b in zip(names, alone, rows + sums)
}))
"""


@pytest.mark.slow
def test_minibatch_discrimination_on_two_replicas_sees_the_global_batch():
    proc = run_python(["-c", MINIBATCH_REPLICA_SCRIPT])
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # Replica-local closeness (3 others instead of 7) moves outputs by ~1 and gradients
    # by their own size; float32 sums in another order differ by ~1e-7 relative.
    for name, (difference, size) in result.items():
        assert size > 1e-3 and difference <= 1e-5 * size, (name, difference, size)


def test_histogan_layers_save_and_reload_in_one_functional_model():
    images = keras.Input((4, 4, 16))
    labels = keras.Input((), dtype="int32")
    attention = SelfAttention(spectral_norm=True)
    y = attention(images)
    y = ConditionalBatchNorm(3, sync_batchnorm=False)(y, labels)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = MinibatchDiscrimination(num_kernels=3)(y)
    model = keras.Model([images, labels], keras.layers.Dense(1)(y))
    attention.gamma.assign(0.5)  # the attention contributes
    run_saving_test(model, [normal((3, 4, 4, 16)), np.array([0, 2, 1])])
