"""Synthetic H&E bone-marrow-like whole slides with every cell's nucleus and type known.

A slide is a grid of 256-pixel cells on glass: the ellipse inscribed in the grid is tissue,
each tissue cell one `cell_tiles.make_tile` (25–40 touching or nearby cells of five types
on eosin stroma), a pure function of (seed, row, col), so the slide is written tile by
tile in bounded memory. The left half of the island draws normal marrow, the right half
blast-rich marrow (`cell_tiles`' two mixtures), so the two halves' type proportions differ.

`write_slide` writes under `out`:
- `HE.tif`: the slide as a pyramid (`slides.pyramid`);
- `nuclei.csv`: one row per nucleus: `x`, `y` (level-0 centroid, QuPath's pixel-centre
  convention), `area` (pixels) and `type`;
- `truth.json`: the size and the true type proportions of the slide.

    python -m kerasg2c.phantoms.cell_slides --out=/tmp/cell_slide --width=1536 --height=1024

Examples:

    kerasg2c cell-slide-phantoms --out=data/cell_slide --preview=data/cell_slide.png
"""

import csv
import json
import pathlib

import numpy as np
from absl import app

from kerasg2c.phantoms import cell_shapes, cell_tiles, cli, slide_grid
from kerasg2c.slides import pyramid

CELL = cell_tiles.TILE_SIZE


def tissue_grid(rows, cols) -> np.ndarray:
    """uint8 [rows, cols]: 0 glass, 1 normal marrow (left half), 2 blast-rich (right)."""
    if rows < 2 or cols < 2:
        raise ValueError(f"a cell phantom slide needs >= 2 x 2 cells, got {rows} x {cols}")
    r, c = np.mgrid[0:rows, 0:cols] + 0.5
    inside = ((r - rows / 2) / (rows / 2)) ** 2 + ((c - cols / 2) / (cols / 2)) ** 2 <= 1.0
    return np.where(inside, np.where(c < cols / 2, 1, 2), 0).astype(np.uint8)


def write_slide(out, *, height, width, seed=0, progress=None) -> dict:
    """Writes `HE.tif`, `nuclei.csv` and `truth.json` under `out`; returns the truth.

    Args:
      out: folder (created).
      height, width: level-0 size, multiples of 256, at least 512 x 512.
      seed: >= 0; equal arguments give byte-identical files.
      progress: optional `progress(done, total)` per pyramid tile.
    """
    slide_grid.check_size(height, width, CELL)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    grid = tissue_grid(height // CELL, width // CELL)
    rows = []

    def read_tile(row, col):
        rng = np.random.default_rng([seed, row, col])
        if not grid[row, col]:
            return slide_grid.glass(rng)
        tile = cell_tiles.make_tile(rng, CELL, label=cell_tiles.LABELS[grid[row, col] - 1])
        found = slide_grid.centroids(tile.instances, len(tile.types), row, col, CELL)
        for (x, y, area), kind in zip(found, tile.types):
            if area:
                rows.append((round(x, 2), round(y, 2), area, kind))
        return tile.image

    pyramid.write_pyramid(
        out / "HE.tif", read_tile, height, width, tile_size=CELL, progress=progress
    )
    with open(out / "nuclei.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "y", "area", "type"])
        w.writerows(rows)
    kinds = [r[3] for r in rows]
    truth = {
        "generator": "kerasg2c.phantoms.cell_slides",
        "seed": seed,
        "width": width,
        "height": height,
        "nuclei": len(rows),
        "proportions": {
            t: round(kinds.count(t) / max(1, len(kinds)), 4) for t in cell_shapes.TYPES
        },
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def read_nuclei(folder) -> dict:
    """`nuclei.csv` of a written slide: x, y, area as arrays, type as a list."""
    with open(pathlib.Path(folder) / "nuclei.csv", newline="") as f:
        records = list(csv.DictReader(f))
    return {
        "x": np.array([float(r["x"]) for r in records]),
        "y": np.array([float(r["y"]) for r in records]),
        "area": np.array([int(r["area"]) for r in records]),
        "type": [r["type"] for r in records],
    }


def _check(height, width):
    slide_grid.check_size(height, width, CELL)
    tissue_grid(height // CELL, width // CELL)


def main(argv):
    del argv
    cli.slide_main(
        "cell slide phantoms", write_slide, "HE.tif", ("width", "height", "nuclei"), _check
    )


if __name__ == "__main__":
    cli.define_slide_flags(1536, 1024, 512)  # when run: importing defines no flags
    app.run(main)
