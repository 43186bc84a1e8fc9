"""Seamless tiling: overlapping windows blended by a partition of unity.

Windows of side W sit on a grid of stride W/2 (`blend="hann"`) and are weighted by the
separable window sin²(π(t + ½)/W), whose shifted copies sum to one (sin² + cos² = 1):
every interior pixel is the weighted mean of two windows per axis and no window edge
shows (the overlap-add of Short-Time Fourier synthesis; for GAN translation of slides,
de Bel et al. 2019 and the CycleGAN "seamless" requests). At the image border, where one
window covers a pixel alone, the weights are divided by their sum, so they are exactly
one everywhere. `blend="none"` is the hard tiling it replaces: stride W, weight 1.

The grid starts at the image origin; the last window may reach past the far border (the
reader fills that with white) and only its part inside the image is used.
"""

import dataclasses
import math

import numpy as np

BLENDS = ("hann", "none")


def profile(window: int, blend: str) -> np.ndarray:
    """The 1-D weight of a window's pixels, float64 [window]."""
    if blend == "none":
        return np.ones(window)
    t = np.arange(window) + 0.5
    return np.sin(np.pi * t / window) ** 2


@dataclasses.dataclass(frozen=True)
class WindowGrid:
    """The windows covering a `height` × `width` image and their blending weights."""

    height: int
    width: int
    window: int
    blend: str = "hann"

    def __post_init__(self):
        if self.blend not in BLENDS:
            raise ValueError(f"blend={self.blend!r}: expected one of {BLENDS}")
        if self.window < 2 or self.window % 2:
            raise ValueError(f"window={self.window}: must be even and at least 2")

    @property
    def stride(self) -> int:
        return self.window // 2 if self.blend == "hann" else self.window

    def count(self, length: int) -> int:
        """Windows along an axis of `length` pixels: the last one reaches its end."""
        return max(1, math.ceil((length - self.window) / self.stride) + 1)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of windows."""
        return self.count(self.height), self.count(self.width)

    def windows(self) -> list[tuple[int, int]]:
        """Every (row, col), row-major."""
        rows, cols = self.shape
        return [(r, c) for r in range(rows) for c in range(cols)]

    def origin(self, row: int, col: int) -> tuple[int, int]:
        """The (y, x) of a window's top-left pixel."""
        return row * self.stride, col * self.stride

    def axis_weights(self, start: int, stop: int, length: int) -> list:
        """For the pixels [start, stop) of an axis of `length`: (index, offset, weights)
        of each window covering some of them, where `offset` is the first covered pixel's
        position in that window and `weights` [n] are normalised over the windows, so
        they sum to one at each pixel; n runs from the first covered pixel on."""
        w = profile(self.window, self.blend)
        covering = []
        total = np.zeros(stop - start)
        first = max(0, (start - self.window) // self.stride + 1)
        for i in range(first, self.count(length)):
            lo = i * self.stride
            if lo >= stop:
                break
            a, b = max(lo, start), min(lo + self.window, stop)
            if a >= b:
                continue
            weights = w[a - lo : b - lo]
            total[a - start : b - start] += weights
            covering.append((i, a - start, a - lo, weights))
        return [
            (i, pos, offset, weights / total[pos : pos + len(weights)])
            for i, pos, offset, weights in covering
        ]

    def assemble(self, read_window, y: int, x: int, height: int, width: int) -> np.ndarray:
        """The blended image at rows [y, y + height) and columns [x, x + width) (clipped
        to the image), float32 [h, w, C]; `read_window(row, col)` gives a window's
        output [window, window, C] (a memory map is read only where needed)."""
        height, width = min(height, self.height - y), min(width, self.width - x)
        out = None
        for row, ry, oy, wy in self.axis_weights(y, y + height, self.height):
            for col, rx, ox, wx in self.axis_weights(x, x + width, self.width):
                part = read_window(row, col)[oy : oy + len(wy), ox : ox + len(wx)]
                if out is None:
                    out = np.zeros((height, width, part.shape[-1]), np.float32)
                weight = (wy[:, None] * wx[None, :]).astype(np.float32)[..., None]
                out[ry : ry + len(wy), rx : rx + len(wx)] += weight * part
        return out
