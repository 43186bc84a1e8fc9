"""Translation quality without ground truth: Fréchet distance and cycle reconstruction.

Real stains are never paired, so a translation g(x) is judged by how its feature
distribution compares with real target-stain patches (FID, Heusel et al. 2017,
arXiv:1706.08500) and by how well the cycle brings it back (CycleGAN, Zhu et al. 2017,
Eq. 2). No Inception weights can be downloaded here; `feature_statistics` takes any
feature extractor, e.g. a classifier backbone trained on the same data (as the HistoGAN
paper does with its ResNet34).
"""

import numpy as np
import tensorflow as tf
from scipy import linalg


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
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance_from_statistics(mu_a, sigma_a, mu_b, sigma_b, eps=1e-6) -> float:
    """Fréchet distance between N(mu_a, sigma_a) and N(mu_b, sigma_b) (Heusel et al. 2017).

    d² = ||mu_a - mu_b||² + Tr(sigma_a + sigma_b - 2 (sigma_a sigma_b)^½).

    As in the reference implementation (TTUR / pytorch-fid): if the matrix square root is
    not finite (near-singular covariances, e.g. fewer images than feature dimensions),
    `eps` is added to both diagonals and it is taken again; an imaginary part that
    round-off leaves is dropped, and a large one raises.
    """
    mu_a, mu_b = np.atleast_1d(mu_a).astype(np.float64), np.atleast_1d(mu_b).astype(np.float64)
    sigma_a = np.atleast_2d(sigma_a).astype(np.float64)
    sigma_b = np.atleast_2d(sigma_b).astype(np.float64)
    if mu_a.shape != mu_b.shape or sigma_a.shape != sigma_b.shape:
        raise ValueError(f"statistics differ in shape: {mu_a.shape} vs {mu_b.shape}")
    diff = mu_a - mu_b
    covmean = linalg.sqrtm(sigma_a @ sigma_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(sigma_a)) * eps
        covmean = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))} in sqrtm")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(covmean))


def frechet_distance(features_a, features_b, eps=1e-6) -> float:
    """Fréchet distance between two feature sets [N_a, D] and [N_b, D] (FID without Inception).

    Fits a Gaussian (mean, unbiased covariance) to each set and applies
    `frechet_distance_from_statistics`. Symmetric; 0 for identical sets.
    """
    stats = []
    for features in (features_a, features_b):
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or len(features) < 2:
            raise ValueError(f"features must be [N >= 2, D], got shape {features.shape}")
        stats += [features.mean(axis=0), np.cov(features, rowvar=False)]
    return frechet_distance_from_statistics(*stats, eps=eps)


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
