"""Synthetic H&E whole slides for top-1 MIL, with every instance's tumour label known.

A slide is a grid of 256-pixel cells on glass: an island of tissue (the ellipse inscribed
in the grid, one cell's margin of glass) in which the cells within a disc around a random
centre are tumour. Each tissue cell is one `mil_tiles.make_tile` (its 32-pixel instances
tumour where >= 25 % of their pixels are, a lymphocyte cluster in every other cell of
either class), a pure function of (seed, row, col), so the slide is written tile by tile
in bounded memory; the truth of every instance comes with it.

`write_slide` writes under `out`:
- `HE.tif`: the slide as a pyramid (`slides.pyramid`);
- `instances.png`: one pixel per 32-pixel instance of level 0: 0 glass, 128 normal
  tissue, 255 tumour;
- `truth.json`: the size, the instance size, the instance counts.

    python -m kerasg2c.phantoms.mil_slides --out=/tmp/mil_slide --width=2048 --height=1536

Examples:

    kerasg2c mil-slide-phantoms --out=data/mil_slide --preview=data/mil_slide.png
"""

import json
import pathlib

import numpy as np
from absl import app
from PIL import Image

from kerasg2c.phantoms import cli, mil_tiles, slide_grid
from kerasg2c.slides import pyramid

CELL = 256
INSTANCE = 32
GLASS, NORMAL, TUMOUR = 0, 128, 255


def cell_grid(seed, rows, cols) -> np.ndarray:
    """uint8 [rows, cols]: GLASS, NORMAL or TUMOUR per cell. The tumour disc has a radius of a
    quarter of the grid's shorter side and a centre drawn inside the island."""
    if rows < 3 or cols < 3:
        raise ValueError(f"a MIL phantom slide needs >= 3 x 3 cells, got {rows} x {cols}")
    r, c = np.mgrid[0:rows, 0:cols] + 0.5
    island = ((r - rows / 2) / (rows / 2 - 0.5)) ** 2 + ((c - cols / 2) / (cols / 2 - 0.5)) ** 2
    grid = np.where(island <= 1.0, NORMAL, GLASS).astype(np.uint8)
    rng = np.random.default_rng([seed, 7])
    inside = np.argwhere(grid == NORMAL)
    centre = inside[rng.integers(len(inside))] + 0.5
    radius = max(1.0, min(rows, cols) / 4)
    tumour = (r - centre[0]) ** 2 + (c - centre[1]) ** 2 <= radius**2
    grid[tumour & (grid == NORMAL)] = TUMOUR
    return grid


def write_slide(out, *, height, width, seed=0, progress=None) -> dict:
    """Writes `HE.tif`, `instances.png` and `truth.json` under `out`; returns the truth.

    Args:
      out: folder (created).
      height, width: level-0 size, multiples of 256, at least 768 x 768.
      seed: >= 0; equal arguments give byte-identical files.
      progress: optional `progress(done, total)` per pyramid tile.
    """
    slide_grid.check_size(height, width, CELL)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    grid = cell_grid(seed, height // CELL, width // CELL)
    g = CELL // INSTANCE
    instances = np.zeros((grid.shape[0] * g, grid.shape[1] * g), np.uint8)

    def read_tile(row, col):
        rng = np.random.default_rng([seed, row, col])
        if grid[row, col] == GLASS:
            return slide_grid.glass(rng)
        tumour = bool(grid[row, col] == TUMOUR)
        image, labels, _ = mil_tiles.make_tile(
            rng, CELL, INSTANCE, tumour, lymphocytes=bool((row + col) % 2)
        )
        instances[row * g : (row + 1) * g, col * g : (col + 1) * g] = np.where(
            labels, TUMOUR, NORMAL
        )
        return image

    pyramid.write_pyramid(
        out / "HE.tif", read_tile, height, width, tile_size=CELL, progress=progress
    )
    Image.fromarray(instances).save(out / "instances.png")
    truth = {
        "generator": "kerasg2c.phantoms.mil_slides",
        "seed": seed,
        "width": width,
        "height": height,
        "instance_size": INSTANCE,
        "tissue_instances": int((instances > GLASS).sum()),
        "tumour_instances": int((instances == TUMOUR).sum()),
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def _check(height, width):
    slide_grid.check_size(height, width, CELL)
    cell_grid(0, height // CELL, width // CELL)


def main(argv):
    del argv
    cli.slide_main(
        "mil slide phantoms",
        write_slide,
        "HE.tif",
        ("width", "height", "tissue_instances", "tumour_instances"),
        _check,
    )


if __name__ == "__main__":
    cli.define_slide_flags(2048, 1536, 768)  # when run: importing defines no flags
    app.run(main)
