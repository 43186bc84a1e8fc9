"""The MC-dropout view of a classifier that HistoGAN's selection uses."""

import numpy as np
import pytest

from kerasg2c.augment.feature_extractor import MCDropoutExtractor
from kerasg2c.errors import UserError
from kerasg2c.models.classifier import Classifier


@pytest.fixture(scope="module")
def classifier():
    model = Classifier(3, widths=(8, 16), blocks_per_unit=2, stem_width=8)
    model(np.zeros((1, 16, 16, 3), np.float32))
    return model


def _images(n=4, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 16, 16, 3)).astype(np.float32)


def test_without_dropout_it_is_the_classifier_in_inference_mode(classifier):
    x = _images()
    extractor = MCDropoutExtractor(classifier, rate=0.0)
    want = np.asarray(classifier(x, training=False))
    want = np.exp(want) / np.exp(want).sum(-1, keepdims=True)
    np.testing.assert_allclose(extractor.predict(x), want, rtol=1e-5, atol=1e-6)
    assert extractor.features(x).shape == (4, 16)
    layers = extractor.layers(x)
    assert [a.shape for a in layers] == [(4, 4, 4, 8)] * 2 + [(4, 2, 2, 16)] * 2  # the stem: ÷4


def test_dropout_draws_differ_per_call_and_repeat_per_seed(classifier):
    x = _images()
    a, b = MCDropoutExtractor(classifier, seed=3), MCDropoutExtractor(classifier, seed=3)
    first, second = a.predict(x), a.predict(x)
    assert not np.allclose(first, second)  # a fresh draw each pass
    np.testing.assert_array_equal(first, b.predict(x))  # the same draws for the same seed
    np.testing.assert_allclose(first.sum(-1), 1.0, rtol=1e-5)
    # Only the last block sees the dropout; the earlier activations are deterministic.
    la, lb = a.layers(x), a.layers(x)
    for early_a, early_b in zip(la[:-1], lb[:-1]):
        np.testing.assert_array_equal(early_a, early_b)
    assert not np.array_equal(la[-1], lb[-1])
    np.testing.assert_array_equal(a.features(x), a.features(x))  # FID features: no dropout


def test_bad_arguments_are_refused(classifier):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        MCDropoutExtractor(classifier, rate=1.0)
    tiny = Classifier(3, widths=(8,), blocks_per_unit=1, stem_width=8)
    tiny(np.zeros((1, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="1 residual block"):
        MCDropoutExtractor(tiny)


def test_classifier_trains_with_dropout_before_its_last_block_when_asked():
    x = _images()
    plain = Classifier(3, widths=(8, 16), blocks_per_unit=2, stem_width=8)
    dropped = Classifier(
        3, widths=(8, 16), blocks_per_unit=2, stem_width=8, dropout_before_last_block=0.5
    )
    plain(x), dropped(x)
    dropped.set_weights(plain.get_weights())
    np.testing.assert_allclose(dropped(x, training=False), plain(x, training=False), atol=1e-6)
    # Without dropout a training-mode forward pass repeats (batch statistics only).
    np.testing.assert_allclose(plain(x, training=True), plain(x, training=True), atol=1e-6)
    first, second = dropped(x, training=True), dropped(x, training=True)
    assert np.abs(np.asarray(first) - np.asarray(second)).max() > 1e-3
    # Where: the dropout's input is the second-to-last block's output, as MCDropoutExtractor.
    seen = []
    dropped.backbone(x, training=True, after_block=lambda i, h: seen.append(i) or h)
    assert seen == [0, 1, 2, 3]
    assert Classifier.from_config(dropped.get_config()).dropout_before_last_block == 0.5
    with pytest.raises(ValueError, match="dropout_before_last_block must be in"):
        Classifier(3, dropout_before_last_block=1.0)


def test_histogan_extractor_is_pretrained_with_the_papers_dropout():
    from conftest import REPO

    from kerasg2c.jobs import config_files, g2c_job

    histogan = config_files.load(f"{REPO}/configs/histogan.py")
    assert histogan.feature_extractor.model.dropout_before_last_block == 0.5
    assert histogan.histogan.mc_dropout == 0.5  # the rate the K passes sample
    assert config_files.load(f"{REPO}/configs/classifier.py").model.dropout_before_last_block == 0
    g2c = config_files.load(f"{REPO}/configs/g2c.py")
    g2c.model.dropout_before_last_block = 0.5
    with pytest.raises(UserError, match="config key model.dropout_before_last_block"):
        g2c_job.check(g2c)
