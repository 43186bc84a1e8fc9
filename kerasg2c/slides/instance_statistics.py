"""Kernelised instance normalisation (KIN; Ho et al., "Ultra-resolution unpaired stain
transformation via kernelized instance normalization", ECCV 2022, §3.2).

A generator with instance normalisation, run window by window, normalises each window by
its own statistics: neighbouring windows of different content get different colours.
KIN runs every window twice. Pass 1 records each InstanceNormalization layer's per-window,
per-channel mean and variance (`recording`); pass 2 normalises each window with the
kernel-weighted pool of its neighbours' statistics (`PooledStatistics`, `fixed`): a Gaussian over
window distances, or the whole slide's pool.

The hooks are set on the layers for the duration of one trace (`with recording(model)`
inside a `tf.function`), so the traced graph holds them and the model keeps none.
"""

import contextlib
import math

import numpy as np
from keras import ops

from kerasg2c.layers.instance_norm import InstanceNormalization


def instance_norm_layers(model) -> list:
    """The model's InstanceNormalization layers (nested ones included), in a fixed order."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, InstanceNormalization)
    ]


@contextlib.contextmanager
def _hooks(model, make_hook):
    layers = instance_norm_layers(model)
    for i, layer in enumerate(layers):
        layer.moments_hook = make_hook(i)
    try:
        yield
    finally:
        for layer in layers:
            layer.moments_hook = None


@contextlib.contextmanager
def recording(model):
    """Yields a list that the model's calls inside the block fill, per InstanceNormalization
    layer (`instance_norm_layers` order), with the (mean, variance) [B, C] each window is
    normalised with (its own)."""
    moments = [None] * len(instance_norm_layers(model))

    def make_hook(i):
        def hook(mean, variance):
            moments[i] = (mean, variance)
            return mean, variance

        return hook

    with _hooks(model, make_hook):
        yield moments


@contextlib.contextmanager
def fixed(model, moments):
    """Inside the block, layer i normalises with `moments[i]` = (mean, variance) [B, C]
    instead of each window's own."""

    def make_hook(i):
        return lambda mean, variance: moments[i]

    with _hooks(model, make_hook):
        yield


def flatten(moments):
    """[(mean, variance) [B, C_i]] → [B, 2·ΣC_i]: every mean, then every variance."""
    return ops.concatenate([m for m, _ in moments] + [v for _, v in moments], axis=-1)


def unflatten(flat, channels):
    """The inverse of `flatten`, for layers of `channels` [C_i]."""
    parts = ops.split(flat, np.cumsum(channels * 2)[:-1].tolist(), axis=-1)
    n = len(channels)
    return list(zip(parts[:n], parts[n:]))


def pool(means, variances, weights) -> tuple[np.ndarray, np.ndarray]:
    """The pooled moments of windows [..., D] with `weights` [...] summing to one: the
    mean of means, and the mean of (variance + (mean − pooled mean)²) (the law of total
    variance), float64 [D]."""
    w = weights.reshape(-1, 1)
    means = means.reshape(-1, means.shape[-1]).astype(np.float64)
    variances = variances.reshape(-1, variances.shape[-1]).astype(np.float64)
    mean = (w * means).sum(0)
    return mean, (w * (variances + (means - mean) ** 2)).sum(0)


class PooledStatistics:
    """Each window's pooled statistics from `grid` [rows, cols, 2D] of per-window moments
    (`flatten` layout; a memory map is read only around the window): Gaussian weights of
    standard deviation `sigma` windows cut at 3σ, or, when `sigma` is 0, the whole
    slide's uniform pool (computed once, row by row). Windows never recorded (NaN, the
    glass of a `tissue_only` pass) weigh nothing."""

    def __init__(self, grid, sigma: float):
        self.grid, self.sigma = grid, sigma
        self.slide = self._slide_pool() if sigma == 0 else None

    def _slide_pool(self):
        rows, cols, width = self.grid.shape
        half = width // 2
        total, square = np.zeros(half), np.zeros(half)
        count = 0
        for row in range(rows):
            block = np.asarray(self.grid[row], np.float64)
            block = block[np.isfinite(block[:, 0])]
            count += len(block)
            total += block[:, :half].sum(0)
            square += (block[:, half:] + block[:, :half] ** 2).sum(0)
        mean = total / count
        variance = np.maximum(square / count - mean**2, 0.0)
        return np.concatenate([mean, variance]).astype(np.float32)

    def __call__(self, row: int, col: int) -> np.ndarray:
        """Window (row, col)'s pooled (means, variances), float32 [2D]."""
        if self.slide is not None:
            return self.slide
        rows, cols, width = self.grid.shape
        reach = math.ceil(3 * self.sigma)
        r0, r1 = max(0, row - reach), min(rows, row + reach + 1)
        c0, c1 = max(0, col - reach), min(cols, col + reach + 1)
        block = np.asarray(self.grid[r0:r1, c0:c1], np.float64)
        dy = (np.arange(r0, r1) - row)[:, None]
        dx = (np.arange(c0, c1) - col)[None, :]
        weights = np.exp(-(dy**2 + dx**2) / (2 * self.sigma**2))
        recorded = np.isfinite(block[..., 0])
        weights, block = weights * recorded, np.where(recorded[..., None], block, 0.0)
        half = width // 2
        mean, variance = pool(block[..., :half], block[..., half:], weights / weights.sum())
        return np.concatenate([mean, variance]).astype(np.float32)
