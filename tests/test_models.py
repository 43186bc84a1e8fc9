"""Layers, the stem-block ResNet classifier, its loss and its train_step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasg2c.layers.conv_bn_relu import ConvBNReLU
from kerasg2c.layers.residual_block import ResidualBlock
from kerasg2c.layers.stem_block import StemBlock
from kerasg2c.losses import classification
from kerasg2c.models.classifier import Classifier
from kerasg2c.models.stem_resnet import StemResNet


@pytest.mark.parametrize(
    "layer",
    [
        ConvBNReLU(4, strides=2, activation=False, sync_batchnorm=False),
        StemBlock(8),
        ResidualBlock(6),
        StemResNet(widths=(4, 8), blocks_per_unit=2, stem_width=4),
    ],
)
def test_layer_config_round_trip(layer):
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype("float32")
    y = layer(x, training=False)
    clone = layer.__class__.from_config(layer.get_config())
    clone(x, training=False)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x, training=False), y, atol=1e-6)
    assert tuple(y.shape) == tuple(layer.compute_output_shape(x.shape))


def test_stem_resnet_shapes_and_units():
    net = StemResNet(widths=(8, 16, 32), blocks_per_unit=3, stem_width=8)
    y = net(tf.zeros((1, 64, 64, 3)))
    # Stem /4, then two stride-2 pools between three units: 64 / 4 / 4 = 4.
    assert y.shape == (1, 4, 4, 32)
    assert sum(isinstance(layer, ResidualBlock) for layer in net.body) == 9


def test_classifier_save_and_reload(tmp_path):
    model = Classifier(3, widths=(4, 8), blocks_per_unit=1, stem_width=4)
    x = np.random.default_rng(1).random((2, 32, 32, 3)).astype("float32")
    y = model(x, training=False)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(x, training=False), y, atol=1e-6)


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


def test_unknown_loss_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="model.loss"):
        Classifier(2, loss="hinge")


def test_train_step_lowers_the_loss_and_moves_every_weight():
    rng = np.random.default_rng(0)
    x = rng.random((16, 16, 16, 3)).astype("float32")
    y = (x[..., 2].mean((1, 2)) > 0.5).astype("int32")
    model = Classifier(2, widths=(8,), blocks_per_unit=1, stem_width=8)
    model(x[:1])
    model.optimizer = keras.optimizers.Adam(1e-2)
    before = [w.numpy().copy() for w in model.trainable_weights]
    step = tf.function(model.train_step)
    losses = [float(step((x, y))["loss"]) for _ in range(15)]
    assert losses[-1] < losses[0]
    for b, w in zip(before, model.trainable_weights):
        assert not np.allclose(b, w.numpy()), w.path
