"""The tissue mask of a slide: Otsu's threshold on the optical density of a thumbnail.

Optical density, not saturation: glass is bright in every channel whatever the stain,
while a silver stain (PASM) or haematoxylin-dark tissue can be almost grey, which a
saturation threshold calls background. Each thumbnail pixel's OD is its largest channel
OD, -log((I + 1) / 256), smoothed. Otsu's threshold is taken on log OD: glass is a narrow
peak near OD 0.03 while tissue spans faint cytoplasm (0.1) to dark nuclei (1 and more),
so on a linear scale Otsu splits faint from dark tissue; on a log scale it splits glass
from tissue. The threshold is never below `MIN_OD`, so a slide of bare glass, whose noise
Otsu would split in two, gives no tissue. Then a closing, small holes (lumina) filled and
small specks dropped.
"""

import dataclasses

import numpy as np
from scipy import ndimage
from skimage import filters, morphology

MIN_OD = 0.08  # grey level ~235: fainter than this is glass, whatever Otsu says
THUMBNAIL_SIZE = 1024
_HOLE_FRACTION = 1 / 500  # holes up to this share of the thumbnail are filled
_SPECK_FRACTION = 1 / 5000  # tissue pieces up to this share are dropped


@dataclasses.dataclass(frozen=True)
class TissueMask:
    """A boolean mask over the whole slide and how it maps to level 0."""

    mask: np.ndarray  # bool [h, w]
    scale: tuple[float, float]  # (mask rows per level-0 row, mask cols per level-0 col)
    threshold: float  # the OD threshold used

    def fraction(self, x0, y0, width0, height0) -> float:
        """Tissue share of the level-0 box (x0, y0, width0, height0); outside the slide
        counts as no tissue."""
        sy, sx = self.scale
        top, left = int(np.floor(y0 * sy)), int(np.floor(x0 * sx))
        bottom = max(int(np.ceil((y0 + height0) * sy)), top + 1)
        right = max(int(np.ceil((x0 + width0) * sx)), left + 1)
        inside = self.mask[max(top, 0) : bottom, max(left, 0) : right]
        return float(inside.sum()) / ((bottom - top) * (right - left))


def optical_density(rgb) -> np.ndarray:
    """float32 per-pixel OD: the largest of the three channels' -log((I + 1) / 256)."""
    return -np.log((rgb.astype(np.float32) + 1) / 256).min(axis=-1)  # darkest channel


def tissue_mask(slide, thumbnail_size=THUMBNAIL_SIZE) -> TissueMask:
    """The tissue mask of an open `reader.Slide` from its thumbnail."""
    thumbnail = slide.thumbnail(thumbnail_size)
    od = ndimage.gaussian_filter(optical_density(thumbnail), 2.0)
    log_od = np.log(np.maximum(od, 1e-3))
    otsu = float(np.exp(filters.threshold_otsu(log_od))) if np.ptp(log_od) > 0 else MIN_OD
    threshold = max(otsu, MIN_OD)
    mask = morphology.closing(od > threshold, morphology.disk(2))
    area = mask.size
    mask = morphology.remove_small_holes(mask, max_size=max(1, int(area * _HOLE_FRACTION)))
    mask = morphology.remove_small_objects(mask, max_size=max(1, int(area * _SPECK_FRACTION)))
    width0, height0 = slide.level_dimensions[0]
    scale = (mask.shape[0] / height0, mask.shape[1] / width0)
    return TissueMask(mask=mask, scale=scale, threshold=threshold)
