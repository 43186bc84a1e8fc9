"""Classifier layers, the branches, the classifier, its loss and its train_step."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_harness import run_model_test, run_train_step_test

from kerasg2c.layers.conv_bn_relu import ConvBNReLU
from kerasg2c.layers.residual_block import ResidualBlock
from kerasg2c.layers.stem_block import StemBlock
from kerasg2c.losses import classification
from kerasg2c.models.alexnet_branch import AlexNetBranch
from kerasg2c.models.classifier import Classifier
from kerasg2c.models.stem_resnet import StemResNet


def images(n=2, size=16, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 3)).astype("float32")


@pytest.mark.parametrize(
    "cls, init_kwargs, size, expected_output_shape",
    [
        (
            ConvBNReLU,
            dict(filters=4, strides=2, activation=False, sync_batchnorm=False),
            16,
            (2, 8, 8, 4),
        ),
        (StemBlock, dict(filters=8), 16, (2, 4, 4, 8)),
        (ResidualBlock, dict(filters=6), 16, (2, 16, 16, 6)),
        # Stem /4, one pool between the two units: 16 / 4 / 2 = 2.
        (StemResNet, dict(widths=(4, 8), blocks_per_unit=2, stem_width=4), 16, (2, 2, 2, 8)),
        # Stride-1 stem, two pools: 16 / 2 / 2 = 4.
        (AlexNetBranch, dict(widths=(4, 6, 4, 5), stem_width=4), 16, (2, 4, 4, 5)),
        (
            Classifier,
            dict(num_classes=3, widths=(4, 8), blocks_per_unit=1, stem_width=4),
            32,
            (2, 3),
        ),
        (
            Classifier,
            dict(
                num_classes=2,
                branch="alexnet",
                widths=(4, 6, 4, 4),
                stem_width=4,
                loss="cross_entropy",
            ),
            16,
            (2, 2),
        ),
    ],
)
def test_model(cls, init_kwargs, size, expected_output_shape):
    run_model_test(cls, init_kwargs, images(2, size), expected_output_shape)


def test_stem_resnet_shapes_and_units():
    net = StemResNet(widths=(8, 16, 32), blocks_per_unit=3, stem_width=8)
    y = net(tf.zeros((1, 64, 64, 3)))
    # Stem /4, then two stride-2 pools between three units: 64 / 4 / 4 = 4.
    assert y.shape == (1, 4, 4, 32)
    assert sum(isinstance(layer, ResidualBlock) for layer in net.body) == 9


def test_focal_loss_matches_hand_computation():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]], "float32")
    labels = np.array([0, 2])
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    pt = p[np.arange(2), labels]
    expected = -((1 - pt) ** 2) * np.log(pt)
    np.testing.assert_allclose(classification.focal_loss(labels, logits, 2.0), expected, rtol=1e-5)
    np.testing.assert_allclose(
        classification.focal_loss(labels, logits, 0.0),
        classification.cross_entropy(labels, logits),
        rtol=1e-5,
    )


def test_unknown_loss_is_refused_naming_the_argument():
    with pytest.raises(ValueError, match=r"Classifier: loss=.hinge.: expected one of"):
        Classifier(2, loss="hinge")


def test_train_step_moves_every_weight_then_lowers_the_loss():
    rng = np.random.default_rng(0)
    x = rng.random((16, 16, 16, 3)).astype("float32")
    y = (x[..., 2].mean((1, 2)) > 0.5).astype("int32")
    model = Classifier(2, widths=(8,), blocks_per_unit=1, stem_width=8)
    model(x[:1])
    model.optimizer = keras.optimizers.Adam(1e-2)
    first = run_train_step_test(model, (x, y))
    assert set(first) == {"loss", "accuracy"}
    step = tf.function(model.train_step)
    losses = [float(first["loss"])] + [float(step((x, y))["loss"]) for _ in range(14)]
    assert losses[-1] < losses[0]


def test_alexnet_branch_needs_four_widths():
    with pytest.raises(ValueError, match=r"AlexNetBranch: widths=\(4, 8\): expected 4 values"):
        AlexNetBranch(widths=(4, 8))
