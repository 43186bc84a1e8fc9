"""Nuisance variation of single-cell crops: the perturbations `cell_phantoms.make_cell` applies.

The InfoWGAN-GP paper (Hu et al., "Unsupervised learning for cell-level visual representation
in histopathology images with generative adversarial networks", §I and §III-B) starts from
real segmented cell crops carrying nuisance variation that defeats pixel distance while the
cell types still differ in shape and texture. Our phantoms draw one perfectly centred cell on
white; one knob, the `level` L >= 0, scales four physical nuisances of real crops together
(0 = none, the control: `make_cell` is then left exactly as it is):

1. Off-centre (segmentation error): the cell's centre is displaced by a vector drawn
   uniformly in a disk of radius 3·L px × size/32.
2. Neighbour fragment: with probability min(1, 0.4·L) one fragment of another cell (type
   uniform over `TYPES`, drawn like any cell) whose centre lies at distance
   size/2 + u·r from the crop centre in a uniform direction, u ~ U(−0.3, 0.5) and r that
   cell's nuclear extent in px at the crop's scale, so that only part of it enters. It is
   painted after the main cell, so it never covers the main nucleus (it may cover its
   cytoplasm, as touching cells in tiles do), and it is not part of the returned nucleus
   mask (the label stays the main cell's).
3. Within-type stain intensity: the haematoxylin and eosin concentration fields are each
   multiplied (after painting, before rendering) by exp(N(0, 0.15·L)), independently.
4. Within-type size: the cell's drawing scale is multiplied by exp(N(0, 0.08·L)), before
   the clamp that scales too large a cell down to fit (so the cell still fits).

Every draw comes from a generator of its own (never the crop's), and the same standard
variates are scaled by L, so a crop's perturbations at level 2 are those of level 1, twice as
strong (the fragment's presence follows one uniform, so a fragment at level 1 is kept at 2).
"""

import dataclasses
import math

import numpy as np

SHIFT_PX = 3.0  # disk radius of the centre's displacement per level, at a 32 px crop
FRAGMENT_PROBABILITY = 0.4  # per level, capped at 1
FRAGMENT_OFFSET = (-0.3, 0.5)  # u: fragment centre at size/2 + u · its extent
STAIN_SIGMA = 0.15  # sd of the log stain gains per level
SIZE_SIGMA = 0.08  # sd of the log size factor per level


def check_level(level) -> float:
    """`level` as a float, or ValueError naming `nuisance` (it must be finite and >= 0)."""
    if isinstance(level, bool):
        raise ValueError(f"nuisance must be a finite number >= 0, got {level!r}")
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"nuisance must be a finite number >= 0, got {level!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"nuisance must be a finite number >= 0, got {level!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Nuisance:
    """The perturbations of one crop (see the module docstring for each nuisance).

    Attributes:
      shift: (dy, dx) displacement of the cell's centre in px.
      stain: (haematoxylin, eosin) gains on the concentration fields.
      size: factor on the cell's drawing scale.
      fragment: type of the neighbour fragment, or None for none.
      fragment_offset: u, the fragment centre's distance beyond size/2 in its extents.
      fragment_angle: direction of the fragment centre from the crop centre (radians).
      fragment_seed: seed of the generator that draws the fragment's geometry and texture.
    """

    shift: tuple = (0.0, 0.0)
    stain: tuple = (1.0, 1.0)
    size: float = 1.0
    fragment: str | None = None
    fragment_offset: float = 0.0
    fragment_angle: float = 0.0
    fragment_seed: int = 0

    @classmethod
    def draw(cls, rng, level, size, types):
        """Draws one crop's perturbations at `level`.

        Args:
          rng: a `np.random.Generator` of its own (not the crop's); always consumed alike.
          level: the nuisance level L (finite, >= 0); 0 gives the identity.
          size: side of the crop in px (the shift scales with size/32).
          types: the cell types a fragment is drawn from (uniformly).

        Returns:
          A `Nuisance`.

        Examples:
          >>> Nuisance.draw(np.random.default_rng(0), 0.0, 32, ("a", "b")) == Nuisance()
          True
        """
        level = check_level(level)
        radius = SHIFT_PX * level * size / 32 * np.sqrt(rng.uniform())
        angle = rng.uniform(-np.pi, np.pi)
        gains = np.exp(STAIN_SIGMA * level * rng.standard_normal(2))
        factor = np.exp(SIZE_SIGMA * level * rng.standard_normal())
        present = rng.uniform() < min(1.0, FRAGMENT_PROBABILITY * level)
        fragment = {
            "fragment": types[int(rng.integers(len(types)))],
            "fragment_offset": float(rng.uniform(*FRAGMENT_OFFSET)),
            "fragment_angle": float(rng.uniform(-np.pi, np.pi)),
            "fragment_seed": int(rng.integers(2**63)),
        }
        return cls(
            shift=(float(radius * np.sin(angle)), float(radius * np.cos(angle))),
            stain=tuple(float(g) for g in gains),
            size=float(factor),
            **(fragment if present else {}),
        )

    def fragment_centre(self, extent, size):
        """(y, x) of the fragment's centre in a crop of side `size`, `extent` being its
        nuclear extent in px at the crop's scale."""
        distance = size / 2 + self.fragment_offset * extent
        a = self.fragment_angle
        return size / 2 + distance * np.array([np.sin(a), np.cos(a)])

    def stained(self, conc):
        """The (haematoxylin, eosin) concentration fields `conc` times the stain gains."""
        return [c * g for c, g in zip(conc, self.stain)]
