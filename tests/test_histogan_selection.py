"""Tests for HistoGAN model selection (FID, EMA) and selective augmentation (Algorithm 1)."""

import warnings

import numpy as np
import pytest
from scipy import linalg

from kerasg2c.augment import selective
from kerasg2c.evaluation import frechet, model_selection


def _rotation(rng, d):
    return np.linalg.qr(rng.standard_normal((d, d)))[0]


# FID (paper Eq. 4) ------------------------------------------------------------------------


def test_fid_zero_for_identical_features():
    features = np.random.default_rng(0).standard_normal((50, 4))
    assert frechet.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)


def test_fid_closed_form_for_known_gaussians():
    rng = np.random.default_rng(1)
    mu_a, mu_b = np.array([1.0, -1.0, 0.5, 2.0]), np.array([0.0, 1.0, 0.5, -1.0])
    s, t = np.array([1.0, 2.0, 0.25, 9.0]), np.array([4.0, 0.5, 0.25, 1.0])
    expected = np.sum((mu_a - mu_b) ** 2) + np.sum(s + t - 2 * np.sqrt(s * t))
    value = frechet.frechet_distance_from_statistics(mu_a, np.diag(s), mu_b, np.diag(t))
    assert value == pytest.approx(expected, rel=1e-12)
    q = _rotation(rng, 4)  # the same in any orthonormal basis
    rotated = (q @ mu_a, q @ np.diag(s) @ q.T, q @ mu_b, q @ np.diag(t) @ q.T)
    assert frechet.frechet_distance_from_statistics(*rotated) == pytest.approx(expected, rel=1e-9)
    # Non-commuting, well-conditioned covariances: scipy's sqrtm agrees there.
    a, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    sigma_a, sigma_b = a @ a.T + np.eye(4), b @ b.T + np.eye(4)
    reference = np.trace(sigma_a + sigma_b - 2 * linalg.sqrtm(sigma_a @ sigma_b).real)
    value = frechet.frechet_distance_from_statistics(mu_a, sigma_a, mu_a, sigma_b)
    assert value == pytest.approx(reference, rel=1e-9)


def test_fid_finite_for_singular_covariances():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((40, 2)), 2 * rng.standard_normal((60, 2)) + 1
    embed = _rotation(rng, 6)[:2]  # rank-2 features in 6 dimensions
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # N > D: no warning
        value = frechet.frechet_distance(x @ embed, y @ embed)
        assert value == pytest.approx(frechet.frechet_distance(x, y), rel=1e-9)
        other = rng.standard_normal((60, 3)) @ _rotation(rng, 6)[:3]  # another subspace
        assert np.isfinite(frechet.frechet_distance(x @ embed, other))


def test_fid_warns_when_fewer_samples_than_dimensions():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((8, 8)), rng.standard_normal((30, 8))
    with pytest.warns(UserWarning, match="rank <= 7 < 8"):
        assert np.isfinite(frechet.frechet_distance(a, b))
    with pytest.warns(UserWarning, match="8 samples of 8-dimensional"):
        frechet.feature_statistics(lambda batch: batch, a)
    with pytest.raises(ValueError, match="not symmetric"):
        mu, upper = np.zeros(2), np.triu(np.ones((2, 2)))
        frechet.frechet_distance_from_statistics(mu, upper, mu, np.eye(2))


# Model selection (paper Eq. 5) -------------------------------------------------------------


def test_ema_by_hand():
    assert model_selection.ema([4, 2, 6, 0]) == [4, 3, 4.5, 2.25]
    # Eq. 5: alpha weights the past: 0.25·previous + 0.75·current.
    assert model_selection.ema([4, 2, 6, 0], alpha=0.25) == [4, 2.5, 5.125, 1.28125]
    assert model_selection.ema([]) == []
    with pytest.raises(ValueError, match="alpha"):
        model_selection.ema([1.0], alpha=1.5)


FID = {1: 1.0, 2: 50, 3: 40, 4: 30, 5: 5, 6: 30, 7: 12, 8: 10, 9: 11, 10: 30}


def test_select_epoch_after_warmup():
    best, smoothed = model_selection.select_epoch(FID, warmup_epochs=3)
    # Epochs 1-3 (the raw minimum, epoch 1) are warm-up; epoch 5 is a one-off dip.
    assert sorted(smoothed) == [4, 5, 6, 7, 8, 9, 10]
    expected = model_selection.ema([FID[e] for e in range(4, 11)])
    assert [smoothed[e] for e in range(4, 11)] == expected
    assert best == 9 and smoothed[9] == pytest.approx(12.46875)
    assert model_selection.select_epoch({1: 2.0, 2: 2.0}, warmup_epochs=0)[0] == 1  # tie
    with pytest.raises(ValueError, match="after the warm-up"):
        model_selection.select_epoch(FID, warmup_epochs=10)
    with pytest.raises(ValueError, match=r"not finite at epochs \[6\]"):
        model_selection.select_epoch({**FID, 6: float("nan")}, warmup_epochs=3)


def test_fid_curve_png(tmp_path):
    best, smoothed = model_selection.select_epoch(FID, warmup_epochs=3)
    path = tmp_path / "fid.png"
    model_selection.plot_fid_curve(FID, smoothed, best, path, warmup_epochs=3)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000


# Selective augmentation (Algorithm 1, Eqs. 6-7) --------------------------------------------


def _fixed_passes(outputs):
    """A predict_fn returning the given per-pass outputs in turn."""
    calls = iter(outputs)
    return lambda images: next(calls)


def test_mc_entropy_is_mean_of_per_pass_entropies():
    passes = [np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([[0.5, 0.5], [0.5, 0.5]])]
    entropy = selective.mc_entropy(_fixed_passes(passes), np.zeros((2, 1)), passes=2)
    # Image 0: (0 + ln 2) / 2, not the entropy of the mean softmax [0.75, 0.25] (0.562).
    np.testing.assert_allclose(entropy, [np.log(2) / 2, np.log(2)])
    with pytest.raises(ValueError, match="softmax"):
        selective.mc_entropy(lambda images: np.array([[2.0, 1.0]]), np.zeros((1, 1)), 1)


def test_unit_normalised_distance_by_hand():
    conv_a = np.array([[[[3.0, 4.0], [0.0, 1.0]]]])  # [N=1, H=1, W=2, C=2]
    conv_b = np.array([[[4.0, 3.0], [1.0, 0.0]]])  # a centroid [H, W, C]
    dense_a, dense_b = np.array([[1.0, 0.0, 0.0]]), np.array([0.0, 0.0, 2.0])
    # conv: positions give 0.08 and 2 (sum over channels), mean 1.04; dense: 2.
    distance = selective.unit_normalised_distance([conv_a, dense_a], [conv_b, dense_b])
    np.testing.assert_allclose(distance, [3.04])
    scaled = selective.unit_normalised_distance([5 * conv_a, dense_a], [conv_b, dense_b])
    np.testing.assert_allclose(scaled, distance)  # unit normalisation: scale-free


def test_class_centroid_streams_batches():
    images = np.random.default_rng(4).random((7, 2, 2, 3))

    def layers_fn(batch):
        return [batch, batch.mean(axis=(1, 2))]

    centroid = selective.class_centroid(layers_fn, images, batch_size=3)
    np.testing.assert_allclose(centroid[0], images.mean(axis=0))
    np.testing.assert_allclose(centroid[1], images.mean(axis=(0, 1, 2)))
    batches = [(images[:4], None), (images[4:], None)]
    np.testing.assert_allclose(selective.class_centroid(layers_fn, batches)[0], centroid[0])


def test_select_keeps_confident_then_near():
    entropy = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6])
    distance = np.array([0.5, 0.0, 0.1, 0.0, 0.9, 0.0, 0.2, 0.0])
    # Lower-entropy half {0, 2, 4, 6}; of those the nearer half {2, 6}.
    np.testing.assert_array_equal(selective.select(entropy, distance, keep=2), [2, 6])
    flat = np.zeros(8)
    np.testing.assert_array_equal(selective.select(flat, flat, keep=2), [0, 1])  # ties
    np.testing.assert_array_equal(selective.select(entropy[:7], distance[:7], 3), [0, 2, 4])
    with pytest.raises(ValueError, match="keep"):
        selective.select(entropy, distance, keep=5)


def test_select_class_end_to_end():
    """Generated image j: column 0 its confidence (high for even j), columns 1-2 its
    feature direction (the class's direction for j % 4 == 0, orthogonal otherwise)."""
    rng = np.random.default_rng(5)
    calls = []

    def generate_fn(indices):
        calls.append(list(indices))
        confidence = np.where(indices % 2 == 0, 0.95, 0.6)
        near = indices % 4 == 0
        return np.stack([confidence, near + 0.1 * indices / 16, ~near + 0.0], axis=1)

    def predict_fn(images):  # MC dropout: a little noise each pass
        c = np.clip(images[:, 0] + 0.01 * rng.standard_normal(len(images)), 0, 1)
        return np.stack([c, 1 - c], axis=1)

    def layers_fn(images):
        features = images[:, 1:3] * (1 + 0.01 * rng.random((len(images), 1)))
        return [features[:, None, None, :], features]

    real = np.stack([np.ones(7), np.ones(7), np.zeros(7)], axis=1)
    result = selective.select_class(
        generate_fn, predict_fn, layers_fn, real, n_real=7, r=0.5, passes=3, batch_size=5
    )
    # r·N_i = 3.5 -> 4 kept of 16 generated: confident (even) and near (j % 4 == 0).
    np.testing.assert_array_equal(result.indices, [0, 4, 8, 12])
    assert result.entropy.shape == result.distance.shape == (16,)
    assert sorted(i for batch in calls for i in batch) == list(range(16))
    assert max(len(batch) for batch in calls) <= 5
