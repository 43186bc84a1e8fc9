"""Tests for translation-fidelity metrics: fidelity.py, stain_transfer.py, frechet.py.

Tolerances against skimage (float64): `tf.image` computes SSIM and PSNR in float32, and
SSIM's one-pass variance E[x²] - E[x]² loses about eps32 · E[x]² / (σ² + C2) per window.
Measured differences are ≤ 6e-6 (SSIM) and ≤ 4e-6 dB (PSNR), so 1e-4 leaves a margin,
while a wrong window (uniform, or σ = 1) is off by > 2e-3 on both image kinds and sample
instead of population covariance by 8e-4 on the smooth ones (on random, high-variance
images σ² ≫ C2 leaves SSIM almost blind to that factor: hence both kinds).
"""

import json

import numpy as np
import pytest
from scipy import ndimage
from skimage import color, metrics

from kerasg2c.evaluation import fidelity, frechet
from kerasg2c.pathology import reinhard as stain_transfer

SSIM_ATOL = 1e-4
PSNR_ATOL_DB = 1e-4
SKIMAGE_SSIM = {  # reproduces tf.image.ssim: 11×11 Gaussian σ=1.5, population covariance
    "channel_axis": -1,
    "data_range": 1,
    "gaussian_weights": True,
    "sigma": 1.5,
    "use_sample_covariance": False,
}


def _random_pair(rng, shape=(3, 32, 40, 3)):
    a = rng.random(shape)
    return a, np.clip(a + 0.1 * rng.standard_normal(shape), 0, 1)


def _smooth_pair(rng, shape=(3, 32, 40, 3)):
    a = np.clip(3 * ndimage.gaussian_filter(rng.random(shape), (0, 4, 4, 0)) - 1, 0, 1)
    return a, np.clip(a + 0.02 * rng.standard_normal(shape), 0, 1)


@pytest.mark.parametrize("make_pair", [_random_pair, _smooth_pair], ids=["random", "smooth"])
def test_ssim_and_psnr_match_skimage(make_pair):
    a, b = make_pair(np.random.default_rng(0))
    ours_ssim, ours_psnr = np.asarray(fidelity.ssim(a, b)), np.asarray(fidelity.psnr(a, b))
    ref_ssim = [metrics.structural_similarity(x, y, **SKIMAGE_SSIM) for x, y in zip(a, b)]
    ref_psnr = [metrics.peak_signal_noise_ratio(x, y, data_range=1) for x, y in zip(a, b)]
    assert ours_ssim.shape == ours_psnr.shape == (len(a),)
    np.testing.assert_allclose(ours_ssim, ref_ssim, rtol=0, atol=SSIM_ATOL)
    np.testing.assert_allclose(ours_psnr, ref_psnr, rtol=0, atol=PSNR_ATOL_DB)


def test_ssim_and_psnr_of_identical_images():
    a, _ = _smooth_pair(np.random.default_rng(1))
    np.testing.assert_allclose(fidelity.ssim(a, a), 1.0, atol=1e-6)
    assert np.all(np.isposinf(fidelity.psnr(a, a)))
    np.testing.assert_array_equal(fidelity.psnr(a, a, cap_db=fidelity.PSNR_CAP_DB), 100.0)
    assert np.asarray(fidelity.ssim(a, np.roll(a, 1, axis=0))).max() < 0.99  # different


def test_uint8_images_are_rescaled():
    a, b = _random_pair(np.random.default_rng(2))
    a8, b8 = (np.rint(x * 255).astype(np.uint8) for x in (a, b))
    np.testing.assert_allclose(fidelity.ssim(a8, b8), fidelity.ssim(a8 / 255, b8 / 255), atol=1e-6)
    np.testing.assert_allclose(
        fidelity.mean_colour_error(a8, b8), fidelity.mean_colour_error(a8 / 255, b8 / 255)
    )


def _flat(rgb, size=8):
    return np.broadcast_to(np.asarray(rgb, np.float64), (1, size, size, 3))


def test_colour_error_zero_for_identical_images():
    a, _ = _random_pair(np.random.default_rng(3))
    np.testing.assert_array_equal(fidelity.mean_colour_error(a, a), 0.0)


def test_colour_error_of_flat_colours_by_hand():
    # sRGB grey 0.5: linear Y = ((0.5 + 0.055) / 1.055)^2.4, L* = 116 Y^(1/3) - 16, a* = b* = 0.
    grey_l = 116 * ((0.555 / 1.055) ** 2.4) ** (1 / 3) - 16  # 53.39
    error = fidelity.mean_colour_error(_flat([1, 1, 1]), _flat([0.5, 0.5, 0.5]))
    np.testing.assert_allclose(error, [100 - grey_l], atol=0.02)
    # sRGB red is L*a*b* = (53.24, 80.09, 67.20) (D65), black is (0, 0, 0).
    error = fidelity.mean_colour_error(_flat([1, 0, 0]), _flat([0, 0, 0]))
    np.testing.assert_allclose(error, [np.hypot(53.24, np.hypot(80.09, 67.20))], atol=0.02)


def _in_gamut_images(rng, n=4, size=16):
    """RGB images whose LAB values are moderate, so a Reinhard transfer never clips."""
    lab = np.stack(
        [
            55 + 4 * rng.standard_normal((n, size, size)),
            5 + 3 * rng.standard_normal((n, size, size)),
            -3 + 3 * rng.standard_normal((n, size, size)),
        ],
        axis=-1,
    )
    return color.lab2rgb(lab)


def test_reinhard_matches_target_statistics():
    images = _in_gamut_images(np.random.default_rng(4))
    target_mean, target_std = np.array([62.0, 12.0, -8.0]), np.array([5.0, 2.0, 4.0])
    out = stain_transfer.reinhard_transfer(images, target_mean, target_std)
    assert out.shape == images.shape
    assert 0 < out.min() and out.max() < 1  # nothing clipped: the statistics are exact
    lab = color.rgb2lab(out)
    np.testing.assert_allclose(lab.mean(axis=(1, 2)), np.tile(target_mean, (4, 1)), atol=1e-6)
    np.testing.assert_allclose(lab.std(axis=(1, 2)), np.tile(target_std, (4, 1)), atol=1e-6)


def test_reinhard_is_identity_for_own_statistics():
    images = _in_gamut_images(np.random.default_rng(5))
    for image in images:
        mean, std = stain_transfer.lab_statistics(image[None])
        out = stain_transfer.reinhard_transfer(image[None], mean, std)
        np.testing.assert_allclose(out[0], image, atol=1e-8)


def test_lab_statistics_pools_batches():
    images = _in_gamut_images(np.random.default_rng(6), n=6)
    mean, std = stain_transfer.lab_statistics(images)
    lab = color.rgb2lab(images).reshape(-1, 3)
    np.testing.assert_allclose(mean, lab.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(std, lab.std(axis=0), atol=1e-6)
    batched = stain_transfer.lab_statistics(iter([images[:2], images[2:]]))
    np.testing.assert_allclose(batched, (mean, std), atol=1e-9)


def _whitened(rng, n, d):
    """n samples in d dims with sample mean exactly 0 and sample covariance exactly I."""
    x = rng.standard_normal((n, d))
    x -= x.mean(axis=0)
    return x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False))).T


def test_frechet_distance_closed_form_and_symmetry():
    rng = np.random.default_rng(7)
    d, mu = 5, np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    a, b = _whitened(rng, 200, d), mu + 2 * _whitened(rng, 300, d)  # N(0, I), N(mu, 4I)
    expected = mu @ mu + d * (1 + 4 - 2 * 2)
    assert frechet.frechet_distance(a, b) == pytest.approx(expected, abs=1e-8)
    assert frechet.frechet_distance(b, a) == pytest.approx(expected, abs=1e-8)
    assert frechet.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # Diagonal covariances in general: sum_i (sqrt(s_i) - sqrt(t_i))^2.
    s, t = np.array([1.0, 2.0, 3.0]), np.array([4.0, 0.5, 3.0])
    value = frechet.frechet_distance_from_statistics(mu[:3], np.diag(s), 0 * mu[:3], np.diag(t))
    assert value == pytest.approx(mu[:3] @ mu[:3] + np.sum((np.sqrt(s) - np.sqrt(t)) ** 2))


def test_frechet_distance_near_singular_covariance():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((10, 32)), rng.standard_normal((12, 32)) + 1  # N < D
    with pytest.warns(UserWarning, match="rank"):  # finite but biased: warned, not refused
        value = frechet.frechet_distance(a, b)
    assert np.isfinite(value) and value > 0
    with pytest.warns(UserWarning, match="rank"):
        assert frechet.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_feature_statistics_of_array_and_batches():
    images = np.random.default_rng(9).random((10, 4, 4, 3))

    def extract(batch):
        return np.asarray(batch).mean(axis=(1, 2))  # [B, 3]

    mu, sigma = frechet.feature_statistics(extract, images, batch_size=3)
    features = images.mean(axis=(1, 2))
    np.testing.assert_allclose(mu, features.mean(axis=0))
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False))
    batches = [(images[:4], None), (images[4:], None)]  # (images, labels) like a dataset
    mu_b, sigma_b = frechet.feature_statistics(extract, batches)
    np.testing.assert_allclose(mu_b, mu)
    np.testing.assert_allclose(sigma_b, sigma)


def test_cycle_reconstruction_error():
    a, b = _random_pair(np.random.default_rng(10))
    error = np.asarray(frechet.cycle_reconstruction_error(a, b))
    np.testing.assert_allclose(error, np.abs(a - b).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_array_equal(frechet.cycle_reconstruction_error(a, a), 0.0)


def test_fidelity_table_perfect_translation_beats_identity():
    rng = np.random.default_rng(11)
    truth, _ = _smooth_pair(rng, (5, 24, 24, 3))
    source = np.clip(truth[..., ::-1] * 0.8 + 0.1, 0, 1)  # another "stain" of the same tissue
    reinhard = stain_transfer.reinhard_transfer(source, *stain_transfer.lab_statistics(truth))
    table = fidelity.fidelity_table(truth, truth, source, reinhard=reinhard, batch_size=2)
    json.dumps(table, allow_nan=False)  # strict JSON
    assert table["n"] == 5 and set(table) == {"n", "psnr_cap_db", "model", "identity", "reinhard"}
    model, identity = table["model"], table["identity"]
    assert model["ssim"]["mean"] == pytest.approx(1.0, abs=1e-6)
    assert model["psnr"] == {"mean": fidelity.PSNR_CAP_DB, "std": 0.0}
    assert model["colour_error"] == {"mean": 0.0, "std": 0.0}
    assert identity["ssim"]["mean"] < 0.99 and identity["psnr"]["mean"] < 40
    assert identity["colour_error"]["mean"] > 1
    with pytest.raises(ValueError, match="identity"):
        fidelity.fidelity_table(truth, truth, source[:3])


def test_phantom_reinhard_baseline_fixes_colour():
    """PAS→HE on phantoms: Reinhard to the HE reference statistics beats the PAS input."""
    phantoms = pytest.importorskip("kerasg2c.phantoms.glomeruli")

    def rng(*keys):
        return np.random.default_rng(np.random.SeedSequence([7, *keys]))

    def render(code, index, stains):
        layout = phantoms.make_layout(rng(code, index, 0), 32, phantoms.CLASSES[index % 3])
        return [
            phantoms.render(layout, s, rng(code, index, 1 + j)) / 255 for j, s in enumerate(stains)
        ]

    pas, he = map(np.stack, zip(*(render(0, i, ("PAS", "HE")) for i in range(6))))
    reference = np.stack([render(1, i, ("HE",))[0] for i in range(6)])  # unpaired HE patches
    reinhard = stain_transfer.reinhard_transfer(pas, *stain_transfer.lab_statistics(reference))
    identity_error = fidelity.mean_colour_error(pas, he).mean()
    reinhard_error = fidelity.mean_colour_error(reinhard, he).mean()
    assert reinhard_error < 0.6 * identity_error, (reinhard_error, identity_error)
