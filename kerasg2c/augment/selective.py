"""Selective synthetic augmentation (HistoGAN paper §3.2, Algorithm 1, Eqs. 6–7).

For class i the chosen generator makes 4·r·N_i images. An MC-dropout feature extractor
(the paper: a ResNet34 trained on the labeled data, dropout 0.5 before its last residual
block, K = 5 passes) scores each image by its mean predictive entropy and by its mean
Eq. 6 distance to the class centroid of the real images; the lower-entropy half is kept,
then the nearer half of those, leaving r·N_i images.

Memory: `generate_fn(indices)` must be a pure function of the image indices (e.g. noise
drawn statelessly from (seed, index) with the class label fixed). `select_class` then
streams: it holds one batch of generated images and one pass's activations at a time,
plus the per-layer centroid and two scalars per generated image, and returns the kept
indices; the caller regenerates just those (`generate_fn(selection.indices[a:b])`) to
write them out. The price is generating the kept quarter twice.

Where the paper leaves room, this module follows its words:
- Entropy: "ranked based on the mean of entropy across 5 runs" (§4.2.2; Algorithm 1:
  e = −Σ p log p), so the mean over passes of each pass's entropy (natural log), not the
  entropy of the mean softmax.
- Distance (Eq. 6): D_f(x, c) = 1/K Σ_k Σ_l 1/(H_l W_l) ||φ̂_l^k(x) − φ̂_l^k(c)||², with
  φ̂ "unit-normalized ... in the channel dimension": every position's channel vector is
  divided by its L2 norm (an all-zero vector stays zero); the squared norm sums over
  channels and 1/(H_l W_l) averages over positions, so each position contributes
  2 − 2·cos (the paper: "an estimated cosine distance"). The mean is over the K passes of
  the distance ("the average feature distance from the multiple runs").
- Centroid (Eq. 7): the mean raw activation per layer over the real class, normalised only
  inside Eq. 6, from one pass ("c_i is retained by one time MC-sampling and fixed").
- Halving: Algorithm 1 keeps e < Median(E) and then d < Median(D); with ties or odd counts
  that is not exactly half, so `select` sorts (stably: ties go to the lower index) and keeps
  the lower ⌊n/2⌋ by entropy, then the `keep` nearest, exactly r·N_i with r·N_i rounded
  half up. The distance median is over the images that passed the entropy step, as in the
  paper; distances are computed for all images in the same streaming pass.
- Passes: the paper runs one extractor K times for both scores; here `predict_fn` and
  `layers_fn` are separate callables, so each score averages its own K dropout draws (the
  same expectation, 2K forward passes per batch).
"""

from typing import NamedTuple

import numpy as np
from scipy import special


class Selection(NamedTuple):
    """`select_class`'s result: kept indices (ascending) into the generated images, and
    every generated image's mean MC entropy and mean Eq. 6 distance, aligned by index."""

    indices: np.ndarray
    entropy: np.ndarray
    distance: np.ndarray


def _batches(images, batch_size):
    """An array (cut into batches) or an iterable of batches; a tuple batch gives its first
    element (like `frechet.feature_statistics`)."""
    if hasattr(images, "shape"):
        return (images[i : i + batch_size] for i in range(0, len(images), batch_size))
    return (batch[0] if isinstance(batch, (tuple, list)) else batch for batch in images)


def _check_passes(passes):
    if passes < 1:
        raise ValueError(f"passes (MC-dropout samples K) must be >= 1, got {passes}")


def mc_entropy(predict_fn, images, passes=5) -> np.ndarray:
    """Mean over K MC-dropout passes of each pass's predictive entropy −Σ_c p_c log p_c
    (Algorithm 1; "the mean of entropy across 5 runs", §4.2.2).

    Args:
      predict_fn: images [B, ...] -> class probabilities [B, C] (softmax), called with
        dropout active (the caller arranges `training=True` for dropout only).
      images: one batch [B, ...].
      passes: K.

    Returns:
      float64 [B], in nats.
    """
    _check_passes(passes)
    total = 0.0
    for _ in range(passes):
        probs = np.asarray(predict_fn(images), np.float64)
        if probs.ndim != 2 or not np.allclose(probs.sum(axis=1), 1, atol=1e-3):
            raise ValueError(
                f"predict_fn must return softmax probabilities [B, C] (rows summing to 1), "
                f"got shape {probs.shape}"
            )
        total = total + special.entr(probs).sum(axis=1)
    return total / passes


def _unit_normalised(activations) -> np.ndarray:
    activations = np.asarray(activations, np.float64)
    norm = np.linalg.norm(activations, axis=-1, keepdims=True)
    return activations / np.maximum(norm, np.finfo(np.float64).tiny)


def unit_normalised_distance(acts_a, acts_b) -> np.ndarray:
    """Eq. 6 for one pass: Σ_l 1/(H_l W_l) Σ_positions ||φ̂_l(a) − φ̂_l(b)||²_channels.

    Args:
      acts_a: per-layer activations, a list of [N, ..., C] (channels last; [N, C] counts
        as one position).
      acts_b: the same layers, each broadcastable to its `acts_a` (e.g. a centroid
        [..., C]).

    Returns:
      float64 [N].
    """
    if len(acts_a) != len(acts_b):
        raise ValueError(f"{len(acts_a)} layers against {len(acts_b)}")
    total = 0.0
    for layer, (a, b) in enumerate(zip(acts_a, acts_b)):
        a, b = _unit_normalised(a), _unit_normalised(b)
        if np.broadcast_shapes(a.shape, b.shape) != a.shape:
            raise ValueError(f"layer {layer}: shape {b.shape} does not match {a.shape}")
        squared = np.sum((a - b) ** 2, axis=-1)
        total = total + squared.reshape(len(a), -1).mean(axis=1)
    return total


def class_centroid(layers_fn, real_images, batch_size=64) -> list:
    """Eq. 7: the mean activation of each layer over a class's real images, one pass.

    Args:
      layers_fn: images [B, ...] -> list of per-layer activations [B, ..., C].
      real_images: an array [N_i, ...] or an iterable of batches (a tuple batch gives its
        first element), streamed.
      batch_size: images per call when `real_images` is an array.

    Returns:
      A list of float64 arrays [..., C], one per layer.
    """
    sums, count = None, 0
    for batch in _batches(real_images, batch_size):
        acts = [np.asarray(a, np.float64) for a in layers_fn(batch)]
        batch_sums = [a.sum(axis=0) for a in acts]
        sums = batch_sums if sums is None else [s + b for s, b in zip(sums, batch_sums)]
        count += len(acts[0])
    if not count:
        raise ValueError("class_centroid needs at least one real image")
    return [s / count for s in sums]


def mc_centroid_distance(layers_fn, images, centroid, passes=5) -> np.ndarray:
    """Eq. 6: the mean over K MC-dropout passes of `unit_normalised_distance` from each
    image's activations to the class centroid (fixed across passes).

    Args:
      layers_fn: images [B, ...] -> list of per-layer activations, dropout active.
      images: one batch [B, ...].
      centroid: `class_centroid`'s list.
      passes: K.

    Returns:
      float64 [B].
    """
    _check_passes(passes)
    total = 0.0
    for _ in range(passes):
        total = total + unit_normalised_distance(layers_fn(images), centroid)
    return total / passes


def select(entropy, distance, keep) -> np.ndarray:
    """Algorithm 1's two median halvings, made exact: the ⌊n/2⌋ lowest entropies, then of
    those the `keep` lowest distances (ties to the lower index).

    With n = 4·keep (what `select_class` generates) both steps halve exactly.

    Args:
      entropy, distance: [n] per generated image.
      keep: r·N_i, 1 <= keep <= n // 2.

    Returns:
      int64 [keep], the kept indices, ascending.
    """
    entropy, distance = np.asarray(entropy), np.asarray(distance)
    if entropy.ndim != 1 or entropy.shape != distance.shape:
        raise ValueError(f"entropy {entropy.shape} and distance {distance.shape} must be [n]")
    if not 1 <= keep <= len(entropy) // 2:
        raise ValueError(f"keep must be in [1, n // 2] = [1, {len(entropy) // 2}], got {keep}")
    confident = np.argsort(entropy, kind="stable")[: len(entropy) // 2]
    near = confident[np.argsort(distance[confident], kind="stable")[:keep]]
    return np.sort(near)


def keep_count(r, n_real) -> int:
    """r·N_i rounded half up: the images `select_class` keeps (it generates 4 times as many)."""
    return int(np.floor(r * n_real + 0.5))


def select_class(
    generate_fn, predict_fn, layers_fn, real_images, n_real, r=0.5, passes=5, batch_size=64
) -> Selection:
    """Algorithm 1 for one class: generate 4·r·N_i images in batches, score, select r·N_i.

    Args:
      generate_fn: int indices [B] -> images [B, ...] of this class, a pure function of
        the indices (see the module docstring).
      predict_fn: images -> softmax probabilities [B, C], dropout active.
      layers_fn: images -> list of per-layer activations [B, ..., C], dropout active.
      real_images: the class's labeled training images (array or iterable of batches),
        for the centroid.
      n_real: N_i, the number of labeled training images of the class.
      r: augmentation ratio (0.5 in the paper).
      passes: K, MC-dropout passes (5 in the paper).
      batch_size: images per call.

    Returns:
      A `Selection`: r·N_i kept indices (rounded half up) and every image's scores.
    """
    keep = keep_count(r, n_real)
    if keep < 1:
        raise ValueError(f"r·N_i = {r}·{n_real} keeps no image; raise r or add real images")
    centroid = class_centroid(layers_fn, real_images, batch_size)
    n = 4 * keep
    entropy, distance = np.empty(n), np.empty(n)
    for start in range(0, n, batch_size):
        indices = np.arange(start, min(start + batch_size, n))
        images = generate_fn(indices)
        if len(images) != len(indices):
            raise ValueError(f"generate_fn returned {len(images)} images for {len(indices)}")
        entropy[indices] = mc_entropy(predict_fn, images, passes)
        distance[indices] = mc_centroid_distance(layers_fn, images, centroid, passes)
    return Selection(select(entropy, distance, keep), entropy, distance)
