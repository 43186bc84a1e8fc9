"""Preview PNGs of a slide analysis: what it found, drawn on the slide's thumbnail.

A slide analysis writes one beside its GeoJSON, so a user can look before opening QuPath:
`dots` marks objects (nuclei) in their class colours, `overlay` lays a per-cell grid of
colours (a heat map) over the tissue.

Examples:

    preview.dots(slide, "ki67_preview.png", xs, ys, colours)
    preview.overlay(slide, "mil_preview.png", colours_grid, alpha=0.5)
"""

import numpy as np
from PIL import Image, ImageDraw

MAX_SIZE = 1024  # the thumbnail's longer side
MAX_DOTS = 200_000  # more objects than this: an even subsample is drawn


def dots(slide, path, xs, ys, colours, radius=2) -> str:
    """The thumbnail with a dot of `colours[i]` (RGB) at level-0 point (xs[i], ys[i])."""
    thumbnail = Image.fromarray(slide.thumbnail(MAX_SIZE))
    width0, height0 = slide.level_dimensions[0]
    sx, sy = thumbnail.width / width0, thumbnail.height / height0
    draw = ImageDraw.Draw(thumbnail)
    step = max(1, len(xs) // MAX_DOTS)
    for x, y, colour in zip(xs[::step], ys[::step], colours[::step]):
        cx, cy = x * sx, y * sy
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=tuple(colour))
    thumbnail.save(path)
    return str(path)


def overlay(slide, path, grid, alpha=0.5) -> str:
    """The thumbnail with `grid` (uint8 [rows, cols, 3], covering the slide's level 0;
    white cells are left out) blended over it with weight `alpha`."""
    thumbnail = slide.thumbnail(MAX_SIZE).astype(np.float32)
    rows = np.minimum(np.arange(thumbnail.shape[0]) * grid.shape[0] // thumbnail.shape[0],
                      grid.shape[0] - 1)  # fmt: skip
    cols = np.minimum(np.arange(thumbnail.shape[1]) * grid.shape[1] // thumbnail.shape[1],
                      grid.shape[1] - 1)  # fmt: skip
    colours = grid[rows[:, None], cols[None, :]].astype(np.float32)
    shown = (colours < 255).any(-1, keepdims=True)
    blended = np.where(shown, (1 - alpha) * thumbnail + alpha * colours, thumbnail)
    Image.fromarray(np.round(blended).astype(np.uint8)).save(path)
    return str(path)
