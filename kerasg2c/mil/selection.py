"""Top-1 selection and tile scores (Campanella et al. 2019): each tile is represented by
its highest-scoring instance, trained with the tile's label; a tile's score is the
maximum of its instances' tumour probabilities."""

import numpy as np


def top1(scores) -> np.ndarray:
    """Index of each tile's top-scoring instance, int64 [T], from scores [T, K] (ties:
    the first)."""
    return np.argmax(np.asarray(scores), axis=1).astype(np.int64)


def tile_scores(scores) -> np.ndarray:
    """A tile's tumour score: the maximum over its instances, [T] from [T, K]."""
    return np.max(np.asarray(scores), axis=1)


def training_set(scores, labels, seed: int, epoch: int) -> np.ndarray:
    """One MIL round's training examples, int64 [T, 3] rows (tile, instance, label): each
    tile's top-1 instance with the tile's label, in an order drawn from (seed, epoch)."""
    rows = np.stack([np.arange(len(labels)), top1(scores), np.asarray(labels)], axis=1)
    return rows[np.random.default_rng([seed, epoch]).permutation(len(rows))].astype(np.int64)
