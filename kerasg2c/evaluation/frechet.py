"""Translation quality without ground truth: Fréchet distance and cycle reconstruction.

Real stains are never paired, so a translation g(x) is judged by how its feature
distribution compares with real target-stain patches (FID, Heusel et al. 2017,
arXiv:1706.08500) and by how well the cycle brings it back (CycleGAN, Zhu et al. 2017,
Eq. 2). No Inception weights can be downloaded here; `feature_statistics` takes any
feature extractor, e.g. a classifier backbone trained on the same data (as the HistoGAN
paper does with its ResNet34).

Everything is float64, and Tr((Σa Σb)^½) comes from symmetric matrices only (see
`trace_sqrt_product`), so no complex parts appear and singular covariances give a finite
value. Fewer samples than feature dimensions (N <= D) leave the sample covariance
rank-deficient (rank <= N - 1): the distance is still finite, but biased and not comparable
with one from a different N, so `feature_statistics` and `frechet_distance` warn
(`UserWarning`) rather than refuse: model selection compares epochs at one fixed N, where
the bias is shared, and small validation splits still get a usable number.
"""

import warnings

import numpy as np
import tensorflow as tf


def feature_statistics(extract_fn, images, batch_size=64) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of `extract_fn`'s features over a set of images.

    Args:
      extract_fn: callable mapping a batch of images to features [B, D] (e.g. a Keras
        model's pooled backbone output).
      images: an array [N, ...] (cut into batches of `batch_size`) or an iterable of
        batches, such as a `tf.data.Dataset`; a batch that is a tuple (images, labels, ...)
        contributes its first element.
      batch_size: images per call when `images` is an array.

    Returns:
      (mu [D], sigma [D, D]), float64; sigma is the unbiased sample covariance.
    """
    if isinstance(images, (np.ndarray, tf.Tensor)):
        batches = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
    else:
        batches = images
    features = []
    for batch in batches:
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        f = np.asarray(extract_fn(batch), np.float64)
        if f.ndim != 2:
            raise ValueError(f"extract_fn must return features [B, D], got shape {f.shape}")
        features.append(f)
    features = np.concatenate(features)
    if len(features) < 2:
        raise ValueError(f"a covariance needs at least 2 images, got {len(features)}")
    _warn_if_rank_deficient(*features.shape)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _warn_if_rank_deficient(n, d) -> None:
    if n <= d:
        warnings.warn(
            f"Fréchet distance from {n} samples of {d}-dimensional features: the sample "
            f"covariance has rank <= {n - 1} < {d}, so the distance is finite but biased and "
            f"not comparable with one from another sample size; use more than {d} images or "
            "fewer feature dimensions",
            UserWarning,
            stacklevel=3,
        )


def _clip_roundoff(values) -> np.ndarray:
    """Eigenvalues of a PSD matrix with those at round-off level (below largest · n · eps,
    `np.linalg.matrix_rank`'s tolerance) set to 0: their square roots (~1e-8 of the scale)
    would otherwise enter the trace."""
    tolerance = max(values.max(initial=0), 0) * len(values) * np.finfo(np.float64).eps
    return np.where(values > tolerance, values, 0.0)


def _sqrt_psd(sigma) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix by `eigh` (`_clip_roundoff` first)."""
    values, vectors = np.linalg.eigh(sigma)
    return (vectors * np.sqrt(_clip_roundoff(values))) @ vectors.T


def trace_sqrt_product(sigma_a, sigma_b) -> float:
    """Tr((Σa Σb)^½) = Tr((Σa^½ Σb Σa^½)^½) for symmetric PSD Σa, Σb.

    Σa Σb is similar to the symmetric PSD matrix Σa^½ Σb Σa^½ (same eigenvalues), so the
    trace is the sum of the square roots of that matrix's eigenvalues (`eigvalsh`, those at
    or below round-off set to 0): real and finite even when Σa or Σb is singular, unlike
    `scipy.linalg.sqrtm` of the non-symmetric product.
    """
    root_a = _sqrt_psd(sigma_a)
    inner = root_a @ sigma_b @ root_a
    values = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(_clip_roundoff(values)).sum())


def frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b) -> float:
    """Fréchet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b) (Heusel et al. 2017;
    HistoGAN paper Eq. 4).

    d² = ||mu_a - mu_b||² + Tr(sigma_a) + Tr(sigma_b) - 2 Tr((sigma_a sigma_b)^½), in
    float64 with the symmetric `trace_sqrt_product`; finite for singular covariances.
    Raises ValueError when shapes differ or a covariance is not symmetric.
    """
    mu_a, mu_b = np.atleast_1d(mu_a).astype(np.float64), np.atleast_1d(mu_b).astype(np.float64)
    sigma_a = np.atleast_2d(sigma_a).astype(np.float64)
    sigma_b = np.atleast_2d(sigma_b).astype(np.float64)
    if mu_a.shape != mu_b.shape or sigma_a.shape != sigma_b.shape:
        raise ValueError(f"statistics differ in shape: {mu_a.shape} vs {mu_b.shape}")
    for name, sigma in (("sigma_a", sigma_a), ("sigma_b", sigma_b)):
        if not np.allclose(sigma, sigma.T):
            raise ValueError(f"{name} is not symmetric: pass a covariance matrix")
    diff = mu_a - mu_b
    trace = np.trace(sigma_a) + np.trace(sigma_b) - 2 * trace_sqrt_product(sigma_a, sigma_b)
    return float(diff @ diff + trace)


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between two feature sets [N_a, D] and [N_b, D] (FID without Inception).

    Fits a Gaussian (mean, unbiased covariance) to each set and applies
    `frechet_distance_from_statistics`. Symmetric; 0 for identical sets. Warns when a set
    has N <= D (see the module docstring).
    """
    stats = []
    for features in (features_a, features_b):
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or len(features) < 2:
            raise ValueError(f"features must be [N >= 2, D], got shape {features.shape}")
        _warn_if_rank_deficient(*features.shape)
        stats += [features.mean(axis=0), np.cov(features, rowvar=False)]
    return frechet_distance_from_statistics(*stats)


def cycle_reconstruction_error(real, reconstructed):
    """Mean absolute error per image, ||x - F(G(x))||_1 / (H·W·3) (CycleGAN Eq. 2 per image).

    Args:
      real, reconstructed: images in [0, 1] (map tanh outputs by (y + 1) / 2 first),
        [N, H, W, 3], numpy or tf.

    Returns:
      A float32 tensor [N] in [0, 1] units.
    """
    real = tf.convert_to_tensor(real, tf.float32)
    reconstructed = tf.convert_to_tensor(reconstructed, tf.float32)
    return tf.reduce_mean(tf.abs(real - reconstructed), axis=[-3, -2, -1])
