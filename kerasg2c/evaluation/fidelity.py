"""Paired translation fidelity: how close a translated patch is to the true target stain.

Only the phantoms have the truth (`DATA_ROOT/paired/<stain>/...`, one-to-one with
`labeled/`, see `kerasg2c.data.layout.list_paired`); real data goes through `frechet.py`.
Images are RGB floats in [0, 1], [N, H, W, 3], numpy or tf.

- SSIM (Wang et al. 2004, Eq. 13; 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03,
  population covariances, mean over the window positions that fit inside the image and
  over channels) and PSNR = 10·log10(1 / MSE), both through `tf.image` so they run
  in-graph. They equal `skimage.metrics.structural_similarity(a, b, channel_axis=-1,
  data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)` and
  `peak_signal_noise_ratio(a, b, data_range=1)` up to float32 rounding (tests/test_fidelity.py):
  skimage's σ = 1.5 window (truncate 3.5) is 11×11, and it averages the SSIM map after
  cropping 5 border pixels, which is exactly TF's 'VALID' filtering.
- Colour error: ΔE*ab (CIE 1976) between the images' mean CIELAB colours.
"""

import numpy as np
import tensorflow as tf
from skimage import color

# PSNR of identical images is +inf; summaries cap it here so reports stay valid JSON.
# 100 dB is an MSE of 1e-10, about one 8-bit level in a single value of a 224×224×3 patch, so
# the cap only merges "identical" with "off by one rounding step".
PSNR_CAP_DB = 100.0
_METRICS = ("ssim", "psnr", "colour_error")


def _float_images(images):
    """As float32 tensors in [0, 1]; integer images are rescaled like `tf.image` does."""
    return tf.image.convert_image_dtype(tf.convert_to_tensor(images), tf.float32)


def _unit_float(images):
    """As a float64 numpy array in [0, 1]; integer images are divided by their maximum."""
    images = np.asarray(images)
    if np.issubdtype(images.dtype, np.integer):
        return images.astype(np.float64) / np.iinfo(images.dtype).max
    return images.astype(np.float64)


def ssim(a, b):
    """Structural similarity per image (Wang et al. 2004, Eq. 13), `tf.image.ssim`, max_val=1.

    Args:
      a, b: RGB images in [0, 1], [N, H, W, 3] with H, W >= 11.

    Returns:
      A float32 tensor [N]; 1 for identical images.
    """
    return tf.image.ssim(_float_images(a), _float_images(b), max_val=1.0)


def psnr(a, b, cap_db=None):
    """Peak signal-to-noise ratio per image, 10·log10(1 / MSE) dB, `tf.image.psnr`, max_val=1.

    Args:
      a, b: RGB images in [0, 1], [N, H, W, 3].
      cap_db: if given, values above it (identical images give +inf) become `cap_db`.

    Returns:
      A float32 tensor [N].
    """
    value = tf.image.psnr(_float_images(a), _float_images(b), max_val=1.0)
    return value if cap_db is None else tf.minimum(value, cap_db)


def mean_colour_error(a, b) -> np.ndarray:
    """ΔE*ab between the mean CIELAB colours of paired images.

    Each image is converted to CIELAB (`skimage.color.rgb2lab`, sRGB/D65) and averaged over
    its pixels; the error is the Euclidean distance of the two means (CIE 1976 ΔE*ab).
    It measures the overall colour cast of a translation, not its structure: about 2.3 is
    a just-noticeable difference, tens of units a different stain. The Reinhard baseline
    (`stain_transfer.py`) sets each image's mean LAB colour to the target stain's reference
    mean, so this metric is that baseline's home ground.

    Args:
      a, b: RGB images in [0, 1], [N, H, W, 3] (numpy or tf).

    Returns:
      A float64 array [N].
    """
    mean_a, mean_b = (color.rgb2lab(_unit_float(x)).mean(axis=(-3, -2)) for x in (a, b))
    return np.linalg.norm(mean_a - mean_b, axis=-1)


def _per_image_metrics(images, truth, batch_size):
    """{metric: [N] float64} in chunks of `batch_size` images (SSIM's memory is ~10× a batch)."""
    values = {name: [] for name in _METRICS}
    for start in range(0, len(truth), batch_size):
        x, y = images[start : start + batch_size], truth[start : start + batch_size]
        values["ssim"].append(np.asarray(ssim(x, y), np.float64))
        values["psnr"].append(np.asarray(psnr(x, y, cap_db=PSNR_CAP_DB), np.float64))
        values["colour_error"].append(mean_colour_error(x, y))
    return {name: np.concatenate(v) for name, v in values.items()}


def _summary(values):
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def fidelity_table(pred, truth, source, reinhard=None, batch_size=64) -> dict:
    """SSIM, PSNR and colour error of a translation and its baselines against the truth.

    For one target stain. Every candidate is compared image by image with `truth`; each
    metric is summarised as mean ± std (population std, ddof=0) over images. PSNR is capped
    at `PSNR_CAP_DB`.

    Args:
      pred: the model's translations of `source`, [N, H, W, 3] in [0, 1].
      truth: the true target-stain images (`paired/<stain>/`), aligned with `source`.
      source: the source-stain images (`labeled/`): the identity baseline.
      reinhard: optional Reinhard baseline images (`stain_transfer.reinhard_transfer` of
        `source` to the target stain's reference statistics).
      batch_size: images per in-graph SSIM/PSNR call.

    Returns:
      A JSON-ready dict: {"n", "psnr_cap_db", "model": {metric: {"mean", "std"}},
      "identity": {...}, "reinhard": {...} (if given)} with metrics "ssim", "psnr",
      "colour_error".
    """
    candidates = {"model": pred, "identity": source}
    if reinhard is not None:
        candidates["reinhard"] = reinhard
    n = len(truth)
    for name, images in candidates.items():
        if len(images) != n:
            raise ValueError(f"{name}: {len(images)} images for {n} ground-truth images")
    table = {"n": int(n), "psnr_cap_db": PSNR_CAP_DB}
    for name, images in candidates.items():
        values = _per_image_metrics(images, truth, batch_size)
        table[name] = {metric: _summary(v) for metric, v in values.items()}
    return table
