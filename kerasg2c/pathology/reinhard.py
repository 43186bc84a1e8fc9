"""Reinhard colour transfer: the classical, non-learned stain-translation baseline.

Reinhard, Ashikhmin, Gooch & Shirley, "Color transfer between images", IEEE CG&A 2001:
in a decorrelated colour space, shift and scale every channel of an image so that its mean
and standard deviation become those of the target,

    out_c = (x_c - mean_c(x)) * std_c(target) / std_c(x) + mean_c(target),

then convert back. Histology uses it to normalise stains (and the InfoWGAN-GP paper,
"Unsupervised Learning for Cell-level Visual Representation in Histopathology Images with
Generative Adversarial Networks", §III.B.1 Nuclei Segmentation, as the first step of its
cell pipeline); here it is the baseline a CycleGAN translation must beat.

Colour space: CIELAB (`skimage.color.rgb2lab`, D65), not the paper's lαβ. Both are
opponent spaces with a lightness axis, but CIELAB has an exact inverse in skimage, needs no
logarithm (lαβ takes log(LMS), undefined on black pixels), is what common histology
normalisers use in practice (StainTools and torchstain: CIELAB), and its Euclidean distance is the
ΔE*ab that `fidelity.mean_colour_error` reports, so the baseline matches exactly the
statistics that metric compares.
"""

import warnings

import numpy as np
from skimage import color

_MIN_STD = 1e-6  # a flat channel has nothing to scale: (x - mean) is already 0


def _unit_float(images):
    """Images as float64 in [0, 1]: integer images are divided by their dtype's maximum."""
    images = np.asarray(images)
    if np.issubdtype(images.dtype, np.integer):
        return images.astype(np.float64) / np.iinfo(images.dtype).max
    return images.astype(np.float64)


def _to_lab(images):
    return color.rgb2lab(_unit_float(images), channel_axis=-1)


def _to_rgb(lab):
    with warnings.catch_warnings():  # out-of-gamut LAB is clipped below, as intended
        warnings.simplefilter("ignore", UserWarning)
        rgb = color.lab2rgb(lab, channel_axis=-1)
    return np.clip(rgb, 0.0, 1.0)


def lab_statistics(images) -> tuple[np.ndarray, np.ndarray]:
    """CIELAB mean and standard deviation per channel, pooled over all pixels of a set.

    Args:
      images: RGB images in [0, 1] (or uint8), [N, H, W, 3]; or an iterable of such
        batches, so a large reference set need not be in memory at once.

    Returns:
      (mean, std), each a float64 array [3] in (L*, a*, b*) order.
    """
    batches = [images] if isinstance(images, np.ndarray) else images
    total, squares, count = np.zeros(3), np.zeros(3), 0
    for batch in batches:
        lab = _to_lab(batch).reshape(-1, 3)
        total += lab.sum(axis=0)
        squares += np.square(lab).sum(axis=0)
        count += len(lab)
    if count == 0:
        raise ValueError("lab_statistics needs at least one pixel")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - np.square(mean), 0.0))
    return mean, std


def reinhard_transfer(images, target_mean, target_std) -> np.ndarray:
    """Reinhard et al. 2001 colour transfer of each image to the target LAB statistics.

    Each image's own per-channel LAB mean and std (over its pixels) are mapped to
    `target_mean` and `target_std`; the result is converted back to RGB and clipped to
    [0, 1] (colours outside the sRGB gamut are the only source of error).

    Args:
      images: RGB images in [0, 1] (or uint8), [N, H, W, 3] or one image [H, W, 3].
      target_mean, target_std: [3] LAB statistics, e.g. from `lab_statistics` on the
        target stain's reference set (`DATA_ROOT/reference/<stain>/`).

    Returns:
      float64 RGB images in [0, 1], the shape of `images`.
    """
    lab = _to_lab(images)
    axes = (-3, -2)
    mean = lab.mean(axis=axes, keepdims=True)
    std = np.maximum(lab.std(axis=axes, keepdims=True), _MIN_STD)
    target_mean = np.asarray(target_mean, np.float64)
    target_std = np.asarray(target_std, np.float64)
    return _to_rgb((lab - mean) / std * target_std + target_mean)
