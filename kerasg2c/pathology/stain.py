"""Stain separation for bright-field tiles: optical density, Macenko stain vectors, Reinhard.

The cell pipeline of the InfoWGAN-GP paper ("Unsupervised Learning for Cell-level Visual
Representation in Histopathology Images with Generative Adversarial Networks", §III.B.1)
normalises a tile's colour (Reinhard), estimates its two stain vectors without supervision
(Macenko et al., ISBI 2009), unmixes the haematoxylin concentration and thresholds it.

Conventions (all arrays are numpy; RGB tiles are uint8 [H, W, 3]):

- Optical density (Beer–Lambert, natural logarithm): ``OD = -ln(I / I0)`` per channel with
  ``I0 = 255`` and ``I`` clipped to >= 1, so a white pixel has OD 0 and OD is finite.
- A stain vector is the OD of a unit amount of that stain, an (R, G, B) row of unit norm.
  A stain matrix is [2, 3]: row 0 haematoxylin, row 1 the second stain (eosin for H&E,
  DAB for H-DAB immunohistochemistry).
- Which Macenko vector is haematoxylin is decided by colour, never by eigenvector order or
  sign: haematoxylin (blue-violet) absorbs red light most, so of the two unit vectors it is
  the one with the larger red OD component. Eosin (pink) absorbs mostly green and DAB
  (brown) mostly blue, so both have a much smaller red component (Ruifrok & Johnston's
  vectors: haematoxylin 0.65, eosin 0.07, DAB 0.27).
- The haematoxylin image is a transmitted-light intensity, ``255 * exp(-c_H)`` as uint8:
  255 where there is no haematoxylin, darker where there is more (the convention of the
  paper's reference code, whose nucleus rule is "haematoxylin image < 120", i.e. a
  haematoxylin OD concentration above ln(255 / 120) ≈ 0.75).
- A tile with too little tissue to estimate stain vectors (for instance all background)
  makes `macenko_stain_matrix` raise `StainEstimationError`, a `ValueError` subclass;
  `kerasg2c.pathology.nuclei.segment_tile` catches it and uses `RUIFROK_HE` instead.

- The paper's background threshold is HistomicsTK's: a pixel whose stain-darkness vector
  (SDA, ``OD · 255 / ln 255``) is shorter than 16 is left out of the Macenko estimate, an
  OD-norm threshold of ``16 · ln 255 / 255 ≈ 0.348`` (`PAPER_BETA`).

Reinhard normalisation (`reinhard_normalize`) works by default in Ruderman's lαβ space as
HistomicsTK computes it (natural log of LMS; `rgb_to_lalphabeta`), the space of the paper's
target statistics (mean 8.98, 0.08, 0.02; sd 0.64, 0.11, 0.03). ``space="cielab"`` uses
`kerasg2c.pathology.reinhard.reinhard_transfer` (CIELAB statistics) instead.
"""

import numpy as np

from kerasg2c.pathology.reinhard import lab_statistics, reinhard_transfer

I0 = 255.0
SDA_PER_OD = 255.0 / np.log(255.0)  # HistomicsTK's stain darkness: SDA = OD · 255 / ln 255
PAPER_MIN_MAGNITUDE = 16.0  # §IV-B: "the magnitude below 16 is excluded" (SDA units)
PAPER_BETA = PAPER_MIN_MAGNITUDE / SDA_PER_OD  # the same threshold on the OD norm, ≈ 0.348


def _unit_rows(matrix):
    matrix = np.asarray(matrix, np.float64)
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)


# Ruifrok & Johnston (2001) stain vectors, as rows of unit norm.
RUIFROK_HAEMATOXYLIN = _unit_rows([0.65, 0.70, 0.29])
RUIFROK_EOSIN = _unit_rows([0.07, 0.99, 0.11])
RUIFROK_DAB = _unit_rows([0.27, 0.57, 0.78])
RUIFROK_HE = np.stack([RUIFROK_HAEMATOXYLIN, RUIFROK_EOSIN])
RUIFROK_HDAB = np.stack([RUIFROK_HAEMATOXYLIN, RUIFROK_DAB])


class StainEstimationError(ValueError):
    """The tile does not determine two stain vectors (too little tissue, or one stain only)."""


def check_rgb(rgb, name="rgb") -> np.ndarray:
    """Returns `rgb` as an array after checking it is a uint8 [H, W, 3] image.

    Raises:
      ValueError: naming `name`, for another dtype, rank or channel count.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        raise ValueError(f"{name} must be a uint8 RGB image, got dtype {rgb.dtype}")
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"{name} must have shape [H, W, 3], got {rgb.shape}")
    return rgb


def rgb_to_od(rgb) -> np.ndarray:
    """Optical density ``-ln(max(I, 1) / 255)`` of a uint8 RGB image, float64 [..., 3]."""
    rgb = check_rgb(rgb)
    return -np.log(np.maximum(rgb.astype(np.float64), 1.0) / I0)


def od_to_rgb(od) -> np.ndarray:
    """Inverse of `rgb_to_od`: ``255 * exp(-OD)``, rounded and clipped to uint8."""
    return np.clip(np.rint(I0 * np.exp(-np.asarray(od, np.float64))), 0, 255).astype(np.uint8)


def order_stains(stains) -> np.ndarray:
    """Rows of a [2, 3] stain matrix reordered so that haematoxylin comes first.

    Haematoxylin is the row whose unit-norm OD vector has the larger red component (see the
    module docstring); the rows are also normalised and, if a row sums to a negative value
    (an eigenvector sign flip), negated.
    """
    stains = np.asarray(stains, np.float64)
    if stains.shape != (2, 3):
        raise ValueError(f"stains must have shape [2, 3], got {stains.shape}")
    signs = np.where(stains.sum(axis=1, keepdims=True) < 0, -1.0, 1.0)
    stains = _unit_rows(stains * signs)
    return stains if stains[0, 0] >= stains[1, 0] else stains[::-1].copy()


def macenko_stain_matrix(
    rgb, *, beta=PAPER_BETA, alpha=1.0, min_pixels=100, min_angle_deg=2.0
) -> np.ndarray:
    """Estimates the tile's two stain vectors with Macenko et al.'s method.

    1. OD of every pixel; pixels whose OD vector has Euclidean norm below `beta` are
       background and left out (a norm rather than a per-channel test keeps faint
       pure-eosin pixels, whose red OD is near zero).
    2. The plane of the two eigenvectors of the tissue OD covariance with the largest
       eigenvalues; every tissue OD is projected onto it.
    3. Each projection's angle, measured from the mean projected direction (tissue ODs are
       non-negative, so all lie within ±90° of it and no angle wraps around ±180°).
    4. The `alpha` and `100 - alpha` percentiles of the angles give the two extreme
       directions, which are the stain vectors; `order_stains` puts haematoxylin first.

    Args:
      rgb: uint8 [H, W, 3] tile.
      beta: OD-norm threshold below which a pixel is background (`PAPER_BETA`, the
        paper's SDA magnitude 16; faint pure-eosin pixels fall under it).
      alpha: percentile, in percent, of the angle distribution (1, i.e. 1st and 99th).
      min_pixels: fewest tissue pixels needed for an estimate.
      min_angle_deg: smallest angle between the two vectors; below it the tile holds one
        stain only and unmixing would be ill-conditioned.

    Returns:
      float64 [2, 3] stain matrix, unit rows, haematoxylin first.

    Raises:
      StainEstimationError: fewer than `min_pixels` tissue pixels (an all-background tile
        gives this), or the two vectors closer than `min_angle_deg`.
      ValueError: `rgb` is not a uint8 [H, W, 3] image.
    """
    od = rgb_to_od(rgb).reshape(-1, 3)
    tissue = od[np.linalg.norm(od, axis=1) >= beta]
    if len(tissue) < min_pixels:
        raise StainEstimationError(
            f"only {len(tissue)} pixels have OD norm >= beta={beta} (need {min_pixels}): "
            "the tile is (nearly) all background"
        )
    _, vectors = np.linalg.eigh(np.cov(tissue, rowvar=False))
    plane = vectors[:, [2, 1]]  # eigh sorts eigenvalues ascending: the two largest
    projected = tissue @ plane  # [P, 2]
    mean_direction = projected.mean(axis=0)
    reference = np.arctan2(mean_direction[1], mean_direction[0])
    angles = np.arctan2(projected[:, 1], projected[:, 0]) - reference
    angles = (angles + np.pi) % (2 * np.pi) - np.pi
    low, high = np.percentile(angles, [alpha, 100.0 - alpha]) + reference
    stains = np.stack([plane @ [np.cos(low), np.sin(low)], plane @ [np.cos(high), np.sin(high)]])
    stains = order_stains(stains)
    angle = np.degrees(np.arccos(np.clip(stains[0] @ stains[1], -1.0, 1.0)))
    if angle < min_angle_deg:
        raise StainEstimationError(
            f"the two stain vectors are only {angle:.2f} degrees apart "
            f"(min_angle_deg={min_angle_deg}): the tile shows a single stain"
        )
    return stains


def stain_concentrations(rgb, stains) -> np.ndarray:
    """Least-squares stain amounts C with ``OD ≈ C @ stains``, float64 [H, W, 2].

    Args:
      rgb: uint8 [H, W, 3] tile.
      stains: [2, 3] stain matrix (rows are OD vectors), e.g. from `macenko_stain_matrix`.
    """
    od = rgb_to_od(rgb)
    stains = np.asarray(stains, np.float64)
    if stains.shape != (2, 3):
        raise ValueError(f"stains must have shape [2, 3], got {stains.shape}")
    amounts, *_ = np.linalg.lstsq(stains.T, od.reshape(-1, 3).T, rcond=None)
    return amounts.T.reshape(*od.shape[:2], 2)


def haematoxylin_image(rgb, stains) -> np.ndarray:
    """The haematoxylin channel as uint8 transmitted intensity ``255 * exp(-c_H)``.

    255 means no haematoxylin and lower values more (nuclei are dark); `stains` row 0 must
    be haematoxylin, as `macenko_stain_matrix` and `order_stains` return it.
    """
    return od_to_rgb(stain_concentrations(rgb, stains)[..., 0])


_RGB_TO_LMS = np.array(
    [[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]]
)
_LMS_TO_LAB = np.diag([3**-0.5, 6**-0.5, 2**-0.5]) @ np.array(
    [[1.0, 1.0, 1.0], [1.0, 1.0, -2.0], [1.0, -1.0, 0.0]]
)


def rgb_to_lalphabeta(rgb) -> np.ndarray:
    """Ruderman's lαβ of a uint8 RGB image as HistomicsTK computes it (RGB 0–255 → LMS →
    natural log → lαβ), float64 [..., 3]; white is about (9.60, 0, 0)."""
    lms = check_rgb(rgb).astype(np.float64) @ _RGB_TO_LMS.T
    return np.log(np.maximum(lms, np.finfo(np.float64).eps)) @ _LMS_TO_LAB.T


def lalphabeta_to_rgb(lab) -> np.ndarray:
    """Inverse of `rgb_to_lalphabeta`, rounded and clipped to uint8."""
    lms = np.exp(np.asarray(lab, np.float64) @ np.linalg.inv(_LMS_TO_LAB).T)
    rgb = lms @ np.linalg.inv(_RGB_TO_LMS).T
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _target_statistics(target, space):
    if isinstance(target, tuple):
        if len(target) != 2:
            raise ValueError("target must be an RGB image or a (mean, std) pair")
        mean, std = (np.asarray(t, np.float64) for t in target)
        if mean.shape != (3,) or std.shape != (3,):
            raise ValueError(f"target mean and std must have shape [3], got {mean.shape}")
        return mean, std
    target = check_rgb(target, "target")
    if space == "cielab":
        return lab_statistics(target[None])
    lab = rgb_to_lalphabeta(target).reshape(-1, 3)
    return lab.mean(axis=0), lab.std(axis=0)


def reinhard_normalize(rgb, target, space="lalphabeta") -> np.ndarray:
    """Reinhard colour normalisation of one uint8 tile to a target's mean and std.

    Args:
      rgb: uint8 [H, W, 3] tile.
      target: a uint8 [H', W', 3] reference image, or a ``(mean, std)`` pair of [3]
        statistics in `space` (the paper's: ``((8.98, 0.08, 0.02), (0.64, 0.11, 0.03))``).
      space: "lalphabeta" (the paper's, HistomicsTK's lαβ: `rgb_to_lalphabeta`) or
        "cielab" (`kerasg2c.pathology.reinhard.reinhard_transfer`).

    Returns:
      uint8 [H, W, 3]: every channel of the tile shifted and scaled to the target's mean
      and std in `space`, converted back and rounded to 0–255.
    """
    rgb = check_rgb(rgb)
    if space not in ("lalphabeta", "cielab"):
        raise ValueError(f"space must be 'lalphabeta' or 'cielab', got {space!r}")
    mean, std = _target_statistics(target, space)
    if space == "cielab":
        out = reinhard_transfer(rgb, mean, std)
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
    lab = rgb_to_lalphabeta(rgb)
    flat = lab.reshape(-1, 3)
    scaled = (lab - flat.mean(axis=0)) / np.maximum(flat.std(axis=0), 1e-12) * std + mean
    return lalphabeta_to_rgb(scaled)
