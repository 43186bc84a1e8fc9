"""H&E tiles of many bone-marrow-like cells, with instance masks and a label (`make_tile`).

Tiles (`make_tile`) put 25–40 touching or nearby cells of `cell_shapes` (scaled with the
area) on a textured eosin background with a few fat spaces; the instance mask and each
instance's type are known.

A tile is `abnormal` when myeloblasts are at least `ABNORMAL_SHARE` (20 %) of its cells (the
blast count that defines acute leukaemia; normal marrow has under 5 %), else `normal`. Its
type proportions are drawn from a Dirichlet mixture around a normal marrow (few blasts) or a
blast-rich one, each half the time, with the blast count kept clear of the threshold.
"""

import dataclasses

import numpy as np
from scipy import ndimage

from kerasg2c.phantoms.cell_shapes import TYPES, _geometry, _noise, _paint, _render

LABELS = ("normal", "abnormal")
ABNORMAL_TYPES = ("myeloblast",)
ABNORMAL_SHARE = 0.2
TILE_SIZE = 256
# Mean type proportions (order of TYPES) of the two tile mixtures, without the blasts,
# whose share is drawn apart.
_MIXTURES = {
    "normal": (0.0, 0.38, 0.3, 0.24, 0.08),
    "abnormal": (0.0, 0.4, 0.2, 0.32, 0.08),
}
_BLAST_SHARE = {"normal": (0.0, 0.12), "abnormal": (0.3, 0.65)}


@dataclasses.dataclass(frozen=True)
class Tile:
    """One H&E tile and its ground truth."""

    image: np.ndarray  # uint8 (S, S, 3)
    instances: np.ndarray  # uint16 (S, S): 0 background, i = the i-th cell's nucleus
    types: tuple  # types[i - 1] is the type of instance i
    label: str  # `tile_label(counts)`

    @property
    def counts(self):
        """{type: number of cells} over TYPES."""
        return {t: self.types.count(t) for t in TYPES}

    @property
    def proportions(self):
        """{type: share of the tile's cells}."""
        return {t: n / max(1, len(self.types)) for t, n in self.counts.items()}


def tile_label(counts):
    """ "abnormal" when the ABNORMAL_TYPES are at least ABNORMAL_SHARE of the cells."""
    total = sum(counts.values())
    share = sum(counts.get(t, 0) for t in ABNORMAL_TYPES) / max(1, total)
    return LABELS[1] if total and share >= ABNORMAL_SHARE else LABELS[0]


def _proportions(rng, label):
    """Type proportions (order of TYPES) of one tile drawn from the `label` mixture."""
    base = np.asarray(_MIXTURES[label])
    others = rng.dirichlet(20 * base[1:] + 0.5)
    blasts = rng.uniform(*_BLAST_SHARE[label])
    return np.concatenate([[blasts], (1 - blasts) * others])


def _counts(rng, proportions, n):
    """Cell counts per type for `n` cells; the blast count is rounded, so its share stays
    on the side of the threshold its proportion is on (others: multinomial)."""
    blasts, least = int(np.floor(proportions[0] * n + 0.5)), int(np.ceil(ABNORMAL_SHARE * n))
    blasts = max(blasts, least) if proportions[0] >= ABNORMAL_SHARE else min(blasts, least - 1)
    rest = proportions[1:] / proportions[1:].sum()
    return np.concatenate([[blasts], rng.multinomial(n - blasts, rest)])


def make_tile(rng, size=TILE_SIZE, label=None, proportions=None):
    """Draws one H&E tile of touching and nearby cells.

    Args:
      rng: a `np.random.Generator`; the tile depends on it alone.
      size: side in pixels (>= 64); the number of cells scales with the area.
      label: "normal" or "abnormal": the mixture the proportions are drawn from; None
        draws one of the two, each with probability 1/2.
      proportions: optional type proportions (order of TYPES, summing to 1) used instead.

    Returns:
      A `Tile`. Its label follows `tile_label` on the cells actually placed; a crowded
      tile may leave out a few cells, chosen so that the label stays that of `proportions`.
    """
    if int(size) != size or size < 64:
        raise ValueError(f"size must be an integer >= 64, got {size!r}")
    size = int(size)
    if label is not None and label not in LABELS:
        raise ValueError(f"label must be one of {LABELS} or None, got {label!r}")
    if proportions is not None:
        proportions = np.asarray(proportions, np.float64)
        if (
            proportions.shape != (len(TYPES),)
            or (proportions < 0).any()
            or not np.isclose(proportions.sum(), 1)
        ):
            raise ValueError(
                f"proportions must be {len(TYPES)} shares summing to 1, got {proportions}"
            )
    if label is None:
        label = LABELS[int(rng.integers(2))]
    if proportions is None:
        proportions = _proportions(rng, label)
    n = int(round(rng.uniform(25, 40) * size * size / TILE_SIZE**2))
    counts = _counts(rng, proportions, n)
    kinds = [TYPES[t] for t in np.repeat(np.arange(len(TYPES)), counts)]
    geos = [(_geometry(rng, kind), kind) for kind in kinds]
    # The largest are placed first, except that the abnormal types go first in an abnormal
    # tile and last in a normal one: cells with no room left never flip the label.
    first = tile_label(dict(zip(TYPES, counts.tolist()))) == LABELS[1]
    geos.sort(key=lambda g: ((g[1] in ABNORMAL_TYPES) != first, -g[0]["extent"]))
    # Background: textured eosin stroma with a little haematoxylin, and fat spaces.
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    fat = np.zeros((size, size), bool)
    for _ in range(int(rng.integers(0, 4))):
        fy, fx, fr = *rng.uniform(0, size, 2), rng.uniform(10, 22)
        fat |= (yy - fy) ** 2 + (xx - fx) ** 2 <= fr**2
    fibres = _noise(rng, (size, size), 1.5) + 0.6 * _noise(rng, (size, size), 6.0)
    eosin = np.clip(0.38 + 0.12 * fibres, 0.12, 0.7) * ~fat
    conc = [0.06 * (1 + 0.3 * _noise(rng, (size, size), 3.0)) * ~fat, eosin]
    conc[0] = np.clip(conc[0], 0, 0.2)
    fat_dist = ndimage.distance_transform_edt(~fat)
    labels = np.zeros((size, size), np.uint16)
    placed, types = [], []
    for geo, kind in geos:
        reach = geo["extent"]
        for _ in range(100):
            cy, cx = rng.uniform(reach + 1, size - reach - 1, 2)
            gap = rng.uniform(1.0, 4.0)
            if fat_dist[int(cy), int(cx)] <= reach + 2:
                continue
            if all(np.hypot(cy - py, cx - px) >= reach + pr + gap for py, px, pr in placed):
                break
        else:
            continue  # no room left for this cell
        placed.append((cy, cx, reach))
        types.append(kind)
        _paint(geo, rng, conc, labels, (cy, cx), 1.0, len(types))
    image = _render(rng, conc, rng.uniform(0.4, 0.7))
    counts = {t: types.count(t) for t in TYPES}
    return Tile(image=image, instances=labels, types=tuple(types), label=tile_label(counts))
