"""PatchConv2D: a small output as one matrix product of its patches, equal to Conv2D's
output and gradient-penalty gradient (also under XLA); the size switch and saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from gan_harness import normal
from model_harness import run_model_test

from kerasg2c.layers.patch_conv import PatchConv2D


@pytest.mark.parametrize(
    "size, kernel, stride, padding",
    [((2, 2), 3, 1, "same"), ((3, 3), 3, 1, "same"), ((4, 4), 4, 2, "same"),
     ((5, 6), 4, 2, "same"), ((5, 5), 3, 2, "valid"), ((3, 3), 4, 2, "same")],
)  # fmt: skip
def test_patch_conv_matches_conv2d_and_its_penalty_gradient(size, kernel, stride, padding):
    """Outputs, and the gradient of a gradient penalty (the second derivative a critic
    takes), equal Conv2D's with the same weights, under XLA too."""
    x = tf.constant(normal((2, *size, 5)))
    patch = PatchConv2D(6, kernel, strides=stride, padding=padding)
    plain = keras.layers.Conv2D(6, kernel, strides=stride, padding=padding)
    patch(x), plain(x)
    plain.set_weights([normal(w.shape, seed=i) for i, w in enumerate(plain.get_weights())])
    patch.set_weights(plain.get_weights())
    out_h, out_w = patch(x).shape[1:3]
    assert out_h * out_w <= 9  # computed from patches

    def penalty_gradient(layer, jit):
        @tf.function(jit_compile=jit)
        def run(x):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    inner.watch(x)
                    score = tf.reduce_sum(tf.nn.leaky_relu(layer(x), 0.2) ** 2)
                penalty = tf.reduce_sum(inner.gradient(score, x) ** 2)
            return layer(x), outer.gradient(penalty, layer.trainable_variables)

        return run(x)

    want_y, want_g = penalty_gradient(plain, False)
    for jit in (False, True):
        y, g = penalty_gradient(patch, jit)
        np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
        for a, b in zip(g, want_g):  # float32 sums in another order: compare as a whole
            assert np.linalg.norm(a - b) <= 1e-5 * np.linalg.norm(b)


def test_patch_conv_uses_conv2d_above_its_size_and_saves():
    calls = []
    original = keras.layers.Conv2D.convolution_op
    x = normal((1, 8, 8, 4))
    layer = run_model_test(
        PatchConv2D, {"filters": 3, "kernel_size": 3, "padding": "same"}, x, (1, 8, 8, 3)
    )
    assert layer.get_config()["max_patch_pixels"] == 9
    try:
        keras.layers.Conv2D.convolution_op = lambda self, *a: calls.append(1) or original(self, *a)
        layer(x)  # 64 output pixels: Conv2D's convolution
        assert calls == [1]
        layer(x[:, :3, :3])  # 9: the patches
        PatchConv2D(3, 3, padding="same", max_patch_pixels=0)(x[:, :2, :2])  # 0: never
        assert calls == [1, 1]
    finally:
        keras.layers.Conv2D.convolution_op = original
    with pytest.raises(ValueError, match="max_patch_pixels=-1"):
        PatchConv2D(3, 3, max_patch_pixels=-1)
