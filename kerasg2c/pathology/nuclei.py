"""Nucleus segmentation and 32×32 cell crops, the input of the InfoWGAN-GP model.

The InfoWGAN-GP paper (§III.B.1 and its segmentation parameters) segments nuclei without
supervision: Reinhard normalisation (lαβ) → Macenko colour deconvolution (1st/99th angle
percentiles, SDA magnitude under 16 left out) → global threshold 120 on the haematoxylin
image → objects under 200 pixels removed → thin protrusions removed (the paper cites
Wienert et al.'s minimum-model method; we read "thin" as narrower than
`protrusion_width` = 5 pixels, the minimum width of that method, and remove such parts by
an opening with a disk of that diameter, `remove_protrusions`) → 7×7 opening to separate
touching cells → one 32×32 cell image per nucleus, centred on white, with a bounding box
whose longer edge exceeds 32 pixels rescaled so that edge becomes 32. Hole filling before
the size filter and 4-connected labelling follow the authors' released code; that code's
additional blob splitting and bounding-box size windows are not part of the paper's method
and are left out here.

`segment_nuclei` turns a haematoxylin image into a label image, `extract_nuclei` cuts the
crops and per-nucleus measurements from a label image, and `segment_tile` runs everything
on one RGB tile.
"""

import dataclasses

import numpy as np
from scipy import ndimage
from skimage import measure, morphology, transform

from kerasg2c.pathology import stain

CROP_SIZE = 32


@dataclasses.dataclass(frozen=True)
class Nuclei:
    """Nuclei found in one tile; row i of every array describes nucleus i.

    Attributes:
      crops: uint8 [N, size, size, 3] cell images, white outside the nucleus.
      labels: int32 [H, W] label image, 0 background, nucleus i has label i + 1.
      centroids: float64 [N, 2] (row, col) centroids in tile pixels.
      areas: int64 [N] nucleus areas in pixels.
      bboxes: int64 [N, 4] (min_row, min_col, max_row, max_col), max exclusive.
      haematoxylin: uint8 [H, W] haematoxylin image (255 = none), or None when the caller
        gave the label image directly.
      stains: float64 [2, 3] stain matrix used (haematoxylin first), or None.
      stains_estimated: True when `stains` came from Macenko, False for the fallback.
    """

    crops: np.ndarray
    labels: np.ndarray
    centroids: np.ndarray
    areas: np.ndarray
    bboxes: np.ndarray
    haematoxylin: np.ndarray | None = None
    stains: np.ndarray | None = None
    stains_estimated: bool = False

    def __len__(self):
        return len(self.crops)


def remove_protrusions(mask, width=5) -> np.ndarray:
    """`mask` without its parts narrower than `width` pixels: a binary opening with a disk
    of diameter `width` (radius ``width // 2``), so a disk that fits nowhere in a thin
    spur removes it while an object's body, wider than `width`, keeps its shape. Objects
    left smaller than a disk vanish. `width` < 3 returns `mask` unchanged.

    Args:
      mask: bool [H, W] foreground.
      width: narrowest part kept, in pixels (5).
    """
    mask = np.asarray(mask, bool)
    if width < 3:
        return mask
    return ndimage.binary_opening(mask, structure=morphology.disk(width // 2))


def segment_nuclei(
    haematoxylin,
    *,
    threshold=120,
    min_area=200,
    protrusion_width=5,
    opening_size=7,
    fill_holes=True,
    connectivity=1,
) -> np.ndarray:
    """Label image of the nuclei in a haematoxylin intensity image.

    Steps (§III-B.1 in order): foreground = ``haematoxylin < threshold`` → holes filled →
    objects smaller than `min_area` removed → thin protrusions removed
    (`remove_protrusions`) → binary opening with an `opening_size` square → labelling. The
    openings can split an object into fragments smaller than `min_area`; those are removed
    too, so every returned nucleus has at least `min_area` pixels.

    Args:
      haematoxylin: uint8 [H, W] image, 255 = no haematoxylin (`stain.haematoxylin_image`).
      threshold: intensity below which a pixel is nucleus (120).
      min_area: smallest nucleus, in pixels (200).
      protrusion_width: parts narrower than this are protrusions (5); < 3 skips the step.
      opening_size: side of the square opening footprint (7); 0 or 1 skips the opening.
      fill_holes: fill holes inside the thresholded objects (True).
      connectivity: 1 (4-neighbours) or 2 (8-neighbours), for size filter and labels.

    Returns:
      int32 [H, W] labels, 0 background, nuclei 1..N in raster order.

    Raises:
      ValueError: naming `haematoxylin` when it is not a uint8 [H, W] image.
    """
    haematoxylin = np.asarray(haematoxylin)
    if haematoxylin.dtype != np.uint8 or haematoxylin.ndim != 2:
        raise ValueError(
            "haematoxylin must be a uint8 [H, W] image, got "
            f"{haematoxylin.dtype} {haematoxylin.shape}"
        )
    mask = haematoxylin < threshold
    if fill_holes:
        mask = ndimage.binary_fill_holes(mask)
    if min_area > 1:
        mask = morphology.remove_small_objects(
            mask, max_size=min_area - 1, connectivity=connectivity
        )
    mask = remove_protrusions(mask, protrusion_width)
    if opening_size > 1:
        footprint = np.ones((opening_size, opening_size), bool)
        mask = ndimage.binary_opening(mask, structure=footprint)
    if min_area > 1 and (opening_size > 1 or protrusion_width >= 3):
        mask = morphology.remove_small_objects(
            mask, max_size=min_area - 1, connectivity=connectivity
        )
    return measure.label(mask, connectivity=connectivity).astype(np.int32)


def fit_crop(cell, size=CROP_SIZE) -> np.ndarray:
    """One cell image, the paper's rule (§IV-B): `cell` (uint8 [h, w, 3], white outside the
    nucleus) shrunk so that its longer edge is `size` when it is longer (bilinear,
    anti-aliased, aspect kept), centred in a `size`×`size` uint8 image filled with white.

    The one path of every cell the InfoWGAN-GP sees: `extract_nuclei` cuts the crops it
    scores with it and `kerasg2c.jobs.infowgan_job` reads its training and test cells
    through it (`infowgan_job.cell_split`), so a crop written to a file and read back for
    training equals the crop scored.
    """
    cell = np.asarray(cell, np.uint8)
    height, width = cell.shape[:2]
    longest = max(height, width)
    if longest > size:
        scale = size / longest
        shape = (max(1, round(height * scale)), max(1, round(width * scale)))
        resized = transform.resize(
            cell, shape, order=1, anti_aliasing=True, preserve_range=True, mode="edge"
        )
        cell = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
        height, width = shape
    out = np.full((size, size, 3), 255, np.uint8)
    top, left = (size - height) // 2, (size - width) // 2
    out[top : top + height, left : left + width] = cell
    return out


def extract_nuclei(rgb, labels, *, size=CROP_SIZE) -> Nuclei:
    """One `size`×`size` crop per labelled nucleus, plus centroids, areas and boxes.

    Each crop is the nucleus's bounding box cut from `rgb` with every pixel outside that
    nucleus (background and other nuclei) set to white, its box centred in the crop. A box
    whose longer edge exceeds `size` is first shrunk (bilinear, anti-aliased, aspect kept)
    so that edge equals `size`; smaller boxes are not scaled.

    Args:
      rgb: uint8 [H, W, 3] tile to cut the cells from.
      labels: integer [H, W] label image, 0 background.
      size: crop side (32).

    Raises:
      ValueError: naming `rgb` or `labels` for a wrong dtype or shape.
    """
    rgb = stain.check_rgb(rgb)
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != rgb.shape[:2]:
        raise ValueError(
            f"labels must be an integer image of shape {rgb.shape[:2]}, got "
            f"{labels.dtype} {labels.shape}"
        )
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    crops, centroids, areas, bboxes = [], [], [], []
    for region in measure.regionprops(labels):
        r0, c0, r1, c1 = region.bbox
        cell = np.where(region.image[..., None], rgb[r0:r1, c0:c1], np.uint8(255))
        crops.append(fit_crop(cell, size))
        centroids.append(region.centroid)
        areas.append(region.area)
        bboxes.append(region.bbox)
    return Nuclei(
        crops=np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
        labels=labels,
        centroids=np.asarray(centroids, np.float64).reshape(-1, 2),
        areas=np.asarray(areas, np.int64),
        bboxes=np.asarray(bboxes, np.int64).reshape(-1, 4),
    )


def segment_tile(
    rgb,
    *,
    reinhard_target=None,
    reinhard_space="lalphabeta",
    fallback_stains=stain.RUIFROK_HE,
    beta=stain.PAPER_BETA,
    alpha=1.0,
    threshold=120,
    min_area=200,
    protrusion_width=5,
    opening_size=7,
    fill_holes=True,
    connectivity=1,
    size=CROP_SIZE,
    crop_normalized=True,
) -> Nuclei:
    """The whole cell pipeline on one RGB tile.

    Reinhard normalisation to `reinhard_target` (skipped when None) → Macenko stain matrix
    of the normalised tile (`fallback_stains` when it cannot be estimated, e.g. on an
    all-background tile; `stains_estimated` then is False) → haematoxylin image →
    `segment_nuclei` → `extract_nuclei`.

    Args:
      rgb: uint8 [H, W, 3] tile.
      reinhard_target: None, a uint8 reference RGB image, or a (mean, std) pair of
        statistics in `reinhard_space` (`stain.reinhard_normalize`).
      reinhard_space: "lalphabeta" (the paper's) or "cielab".
      fallback_stains: [2, 3] stain matrix, haematoxylin first (Ruifrok H&E; use
        `stain.RUIFROK_HDAB` for H-DAB immunohistochemistry).
      beta, alpha: Macenko background OD threshold and angle percentile.
      threshold, min_area, protrusion_width, opening_size, fill_holes, connectivity:
        `segment_nuclei`.
      size: crop side.
      crop_normalized: cut the crops from the normalised tile (True, as the authors' code
        does, so every cell shares the target's colours) or from `rgb` as given.

    Returns:
      `Nuclei` with `haematoxylin`, `stains` and `stains_estimated` filled in.
    """
    rgb = stain.check_rgb(rgb)
    normalized = (
        rgb
        if reinhard_target is None
        else stain.reinhard_normalize(rgb, reinhard_target, space=reinhard_space)
    )
    try:
        stains = stain.macenko_stain_matrix(normalized, beta=beta, alpha=alpha)
        estimated = True
    except stain.StainEstimationError:
        stains = stain.order_stains(fallback_stains)
        estimated = False
    haematoxylin = stain.haematoxylin_image(normalized, stains)
    labels = segment_nuclei(
        haematoxylin,
        threshold=threshold,
        min_area=min_area,
        protrusion_width=protrusion_width,
        opening_size=opening_size,
        fill_holes=fill_holes,
        connectivity=connectivity,
    )
    nuclei = extract_nuclei(normalized if crop_normalized else rgb, labels, size=size)
    return dataclasses.replace(
        nuclei, haematoxylin=haematoxylin, stains=stains, stains_estimated=estimated
    )
