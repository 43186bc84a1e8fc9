"""Nucleus segmentation scores: foreground IoU and the F-score with the 50 % overlap rule.

The InfoWGAN-GP paper (§IV, nuclei segmentation evaluation) matches a segmented instance I
with a ground-truth instance G only if ``|I ∩ G| > 0.5 |G|``, i.e. the prediction covers
more than half of the true nucleus. Because predicted instances are disjoint, each true
nucleus has at most one such prediction; a prediction covering more than half of several
true nuclei (a merge) keeps only the one it overlaps most, so the matching is one-to-one
and unique (ties go to the smaller true label).

Two F-scores are reported from that matching:

- object level: matched pairs are true positives, unmatched predictions false positives,
  unmatched true nuclei false negatives;
- pixel level (the paper's): the overlap pixels of matched pairs are true positives, every
  other predicted foreground pixel is a false positive and every other true foreground
  pixel a false negative.
"""

import dataclasses

import numpy as np


def _check_labels(true_labels, pred_labels):
    arrays = []
    for name, value in (("true_labels", true_labels), ("pred_labels", pred_labels)):
        array = np.asarray(value)
        if array.ndim != 2 or not (np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
            raise ValueError(
                f"{name} must be a 2-D integer or boolean label image, got "
                f"{array.dtype} {array.shape}"
            )
        if array.dtype != bool and array.min(initial=0) < 0:
            raise ValueError(f"{name} must not contain negative labels")
        arrays.append(array.astype(np.int64))
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(
            f"pred_labels shape {arrays[1].shape} differs from true_labels shape {arrays[0].shape}"
        )
    return arrays


def _f_score(precision, recall):
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _ratio(numerator, denominator):
    return float(numerator) / denominator if denominator else 0.0


def foreground_iou(true_labels, pred_labels) -> float:
    """Pixel-level IoU of the foregrounds (label > 0); 1.0 when both are empty."""
    true, pred = _check_labels(true_labels, pred_labels)
    true, pred = true > 0, pred > 0
    union = np.logical_or(true, pred).sum()
    return 1.0 if union == 0 else float(np.logical_and(true, pred).sum() / union)


def match_nuclei(true_labels, pred_labels, *, min_overlap=0.5) -> list[tuple[int, int]]:
    """One-to-one (true label, predicted label) pairs under the overlap rule.

    A predicted object matches a true object when their intersection is more than
    `min_overlap` times the true object's area; see the module docstring for merges.
    """
    true, pred = _check_labels(true_labels, pred_labels)
    n_true, n_pred = int(true.max(initial=0)), int(pred.max(initial=0))
    overlap = np.zeros((n_true + 1, n_pred + 1), np.int64)
    np.add.at(overlap, (true.ravel(), pred.ravel()), 1)
    true_area = overlap.sum(axis=1)
    candidate = overlap > min_overlap * true_area[:, None]
    candidate[0, :] = candidate[:, 0] = False
    pairs = []
    for p in range(1, n_pred + 1):
        rows = np.flatnonzero(candidate[:, p])
        if len(rows):
            pairs.append((int(rows[np.argmax(overlap[rows, p])]), p))
    return sorted(pairs)


@dataclasses.dataclass(frozen=True)
class SegmentationScores:
    """Scores of one predicted label image against the ground truth."""

    iou: float
    n_true: int
    n_pred: int
    n_matched: int
    object_precision: float
    object_recall: float
    object_f_score: float
    pixel_precision: float
    pixel_recall: float
    pixel_f_score: float


def segmentation_scores(true_labels, pred_labels, *, min_overlap=0.5) -> SegmentationScores:
    """Foreground IoU and object- and pixel-level precision, recall and F-score.

    Labels are instance ids (0 background); both images must have the same shape. Objects
    are the distinct positive labels, so relabel (`skimage.measure.label`) masks first.
    Precision, recall and F-score are 0 when their denominators are 0.

    Raises:
      ValueError: naming `true_labels` or `pred_labels` for a wrong dtype, rank or shape.
    """
    true, pred = _check_labels(true_labels, pred_labels)
    pairs = match_nuclei(true, pred, min_overlap=min_overlap)
    n_true = len(np.setdiff1d(np.unique(true), [0]))
    n_pred = len(np.setdiff1d(np.unique(pred), [0]))
    true_positive_pixels = sum(int(np.sum((true == t) & (pred == p))) for t, p in pairs)
    object_precision = _ratio(len(pairs), n_pred)
    object_recall = _ratio(len(pairs), n_true)
    pixel_precision = _ratio(true_positive_pixels, int(np.sum(pred > 0)))
    pixel_recall = _ratio(true_positive_pixels, int(np.sum(true > 0)))
    return SegmentationScores(
        iou=foreground_iou(true, pred),
        n_true=n_true,
        n_pred=n_pred,
        n_matched=len(pairs),
        object_precision=object_precision,
        object_recall=object_recall,
        object_f_score=_f_score(object_precision, object_recall),
        pixel_precision=pixel_precision,
        pixel_recall=pixel_recall,
        pixel_f_score=_f_score(pixel_precision, pixel_recall),
    )
