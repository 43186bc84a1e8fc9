"""The Ki-67 index of an H-DAB immunohistochemistry image: positive nuclei / all nuclei.

The IHC CycleGAN paper (Ki-67 from H&E, §"Quantification") scores a Ki-67 image by "the
ratio of positive cells to all cells". How a cell is called positive follows QuPath's
positive cell detection (PLATFORM.md, "Ki-67 index convention"): the mean DAB optical
density over the nucleus, positive at >= 0.2; index = positive / (positive + negative).

Steps, all on numpy arrays:

1. Colour deconvolution on QuPath's scale. QuPath's optical density is base-10,
   ``OD = -log10(I / 255)`` with I clipped to >= 1, and its H-DAB deconvolution inverts the
   matrix [H, DAB, H × DAB] (the residual stain is the cross product). Because that residual
   is orthogonal to H and DAB, the H and DAB amounts equal the least-squares fit
   `stain.stain_concentrations` with `stain.RUIFROK_HDAB` (QuPath's default H-DAB vectors are
   Ruifrok & Johnston's to three decimals); dividing the project's natural-log amounts by
   ln 10 gives QuPath's numbers.
2. Nuclei: positive nuclei are brown and negative ones blue, so they are found on the sum
   of both nuclear stains (H + DAB, QuPath's "optical density sum" detection image): a
   threshold (`nucleus_threshold`), holes filled, a disk opening, objects under `min_area`
   removed, then touching nuclei split by a watershed on the smoothed distance transform
   seeded at its maxima at least `min_distance` apart (`split=False` skips the split);
   objects over `max_area` pixels are left out as stained tissue rather than nuclei
   (QuPath's cell detection has the same minimum and maximum nucleus area). Where DAB
   stains cytoplasm or membranes (not Ki-67's nuclear pattern) the nuclei inside that
   brown tissue merge with it and are lost this way.
3. Per nucleus the mean DAB OD over its pixels; positive when >= `threshold`.

    python -m kerasg2c.pathology.ki67 --images='DIR/*.png' [--threshold=0.2] [--out=CSV]

Examples:

    kerasg2c ki67 --images='data/ihc/paired/KI67/test/*/*.png' --out=data/ki67_test.csv
"""

import csv
import dataclasses
import glob
import os
import sys

import numpy as np
from absl import app, flags
from PIL import Image
from scipy import ndimage
from skimage import feature, measure, morphology, segmentation

from kerasg2c import errors
from kerasg2c.data import layout
from kerasg2c.pathology import stain

DAB_THRESHOLD = 0.2  # QuPath's default single threshold ("Score compartment: DAB OD mean")
NUCLEUS_THRESHOLD = 0.15  # base-10 H + DAB OD above which a pixel is nucleus
MIN_AREA = 40
MAX_AREA = 1500
MIN_DISTANCE = 6


@dataclasses.dataclass(frozen=True)
class Ki67Result:
    """The Ki-67 score of one image.

    Attributes:
      index: positive / total, NaN when no nucleus was found.
      positive: nuclei whose mean DAB OD is >= the threshold.
      total: nuclei found.
      labels: int32 [H, W] nuclei, 0 background, nucleus i has label i + 1.
      dab_means: float64 [total] mean base-10 DAB OD of nucleus i.
    """

    index: float
    positive: int
    total: int
    labels: np.ndarray
    dab_means: np.ndarray


def hdab_density(rgb) -> np.ndarray:
    """Haematoxylin and DAB amounts on QuPath's base-10 OD scale, float64 [H, W, 2]."""
    return stain.stain_concentrations(rgb, stain.RUIFROK_HDAB) / np.log(10.0)


def segment_nuclei(
    nuclear_od,
    *,
    nucleus_threshold=NUCLEUS_THRESHOLD,
    min_area=MIN_AREA,
    max_area=MAX_AREA,
    min_distance=MIN_DISTANCE,
    split=True,
) -> np.ndarray:
    """Label image of the nuclei in a nuclear-stain OD image (H + DAB, base 10).

    Threshold → holes filled → opening with a radius-1 disk → objects under `min_area`
    pixels removed → (when `split`) watershed of the negated distance transform (Gaussian
    sigma 1) from its local maxima `min_distance` apart, within each object → fragments
    under `min_area` / 2 and objects over `max_area` pixels dropped.

    Returns:
      int32 [H, W] labels, 0 background, nuclei 1..N.
    """
    mask = ndimage.binary_fill_holes(nuclear_od >= nucleus_threshold)
    mask = ndimage.binary_opening(mask, structure=morphology.disk(1))
    mask = morphology.remove_small_objects(mask, max_size=min_area - 1)
    objects = measure.label(mask)
    if split and objects.max() > 0:
        objects = _split_touching(mask, objects, min_distance)
        objects = morphology.remove_small_objects(objects, max_size=min_area // 2 - 1)
    areas = np.bincount(objects.ravel())
    objects[(areas > max_area)[objects]] = 0
    return segmentation.relabel_sequential(objects)[0].astype(np.int32)


def _split_touching(mask, objects, min_distance):
    """Watershed of the smoothed distance transform, one seed per maximum."""
    distance = ndimage.gaussian_filter(ndimage.distance_transform_edt(mask), 1.0)
    peaks = feature.peak_local_max(
        distance, min_distance=min_distance, labels=objects, exclude_border=False
    )
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return segmentation.watershed(-distance, markers, mask=mask)


def ki67_index(
    image,
    *,
    threshold=DAB_THRESHOLD,
    nucleus_threshold=NUCLEUS_THRESHOLD,
    min_area=MIN_AREA,
    max_area=MAX_AREA,
    min_distance=MIN_DISTANCE,
    split=True,
) -> Ki67Result:
    """The Ki-67 index of one H-DAB image (see the module docstring for the steps).

    Args:
      image: uint8 [H, W, 3] RGB H-DAB image.
      threshold: mean DAB OD (base 10) at or above which a nucleus is positive (0.2).
      nucleus_threshold, min_area, max_area, min_distance, split: `segment_nuclei`.

    Returns:
      `Ki67Result`; an image without nuclei (e.g. all background) gives total 0, index NaN.
    """
    density = hdab_density(stain.check_rgb(image, "image"))
    labels = segment_nuclei(
        density.sum(-1),
        nucleus_threshold=nucleus_threshold,
        min_area=min_area,
        max_area=max_area,
        min_distance=min_distance,
        split=split,
    )
    total = int(labels.max())
    dab_means = ndimage.mean(density[..., 1], labels, np.arange(1, total + 1))
    dab_means = np.asarray(dab_means, np.float64).reshape(total)
    positive = int((dab_means >= threshold).sum())
    index = positive / total if total else float("nan")
    return Ki67Result(index, positive, total, labels, dab_means)


def _image_paths(images):
    """The images of a folder (recursively) or of a glob pattern, sorted."""
    pattern = os.path.join(images, "**", "*") if os.path.isdir(images) else images
    paths = sorted(
        p for p in glob.glob(pattern, recursive=True)
        if p.lower().endswith(layout.IMAGE_EXTENSIONS) and os.path.isfile(p)
    )  # fmt: skip
    if not paths:
        raise errors.UserError(f"--images={images}: no images found")
    return paths


def _scores(images, threshold):
    """(file, index, positive, total) rows, one per image."""
    for path in _image_paths(images):
        try:
            image = np.asarray(Image.open(path).convert("RGB"))
        except OSError as e:
            raise errors.UserError(f"{path}: cannot be read as an image ({e})") from e
        result = ki67_index(image, threshold=threshold)
        yield [path, f"{result.index:.4f}", result.positive, result.total]


def main(argv):
    del argv
    f = flags.FLAGS
    try:
        rows = list(_scores(f.images, f.threshold))
    except errors.UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    with (
        open(f.out, "w", newline="")
        if f.out
        else open(sys.stdout.fileno(), "w", closefd=False) as out
    ):
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["file", "index", "positive", "total"])
        writer.writerows(rows)
    return 0


if __name__ == "__main__":
    flags.DEFINE_string("images", None, "A folder (searched recursively) or a glob pattern.")
    flags.DEFINE_float("threshold", DAB_THRESHOLD, "Mean DAB OD (base 10) of a positive nucleus.")
    flags.DEFINE_string("out", None, "CSV to write (file, index, positive, total); default stdout.")
    flags.mark_flag_as_required("images")
    app.run(main)
