"""Synthetic Ki-67 whole slides with every nucleus known: position, outline, Ki-67 status.

A slide is a grid of 256-pixel cells on glass. Two tissue islands (ellipses over the grid,
a column of glass between them) hold the tissue: the left one tumour, the right one normal.
Each tissue cell is the Ki-67 rendering of one `ihc.make_twin` layout of its island's
class, a pure function of (seed, row, col), so a slide of any size is written tile by tile
in bounded memory. Over the twin lies a faint haematoxylin counterstain of the stroma
(`STROMA_OD`, 0.07 on QuPath's base-10 scale, under its 0.15 nucleus threshold): a
counterstained section shows on glass, where the twins' own Ki-67 rendering (nuclei on
nearly white tissue) would leave a tissue detector only the nuclei. Tumour nuclei are
Ki-67-positive with a per-cell probability from
0.3–0.8, normal ones from 0.02–0.15 (`ihc`), so the two islands' Ki-67 indices differ.

`write_slide` writes under `out`:
- `KI67.tif`: the slide as a pyramid (`slides.pyramid`), which OpenSlide and QuPath open;
- `nuclei.csv`: one row per nucleus: `x`, `y` (its centroid in level-0 pixels, pixel
  (r, c) centred at (c + 0.5, r + 0.5), QuPath's convention), `area` (pixels), `positive`
  (0/1), `island` (1 tumour, 2 normal) and `class`;
- `truth.json`: the size, the islands, and the true Ki-67 index of the slide and of each
  island;
- `tumour_mask.png`: one pixel per grid cell, 255 where the cell is tumour.

    python -m kerasg2c.phantoms.ki67_slides --out=/tmp/ki67_slide --width=2560 --height=2048

Examples:

    kerasg2c ki67-slide-phantoms --out=data/ki67_slide --width=2560 --height=2048 \\
        --preview=data/ki67_slide.png
"""

import csv
import json
import pathlib

import numpy as np
from absl import app
from PIL import Image

from kerasg2c.phantoms import cell_shapes, cli, ihc, slide_grid
from kerasg2c.slides import pyramid

CELL = ihc.SIZE  # grid cell side in level-0 pixels
ISLANDS = {1: "tumour", 2: "normal"}
STROMA_OD = 0.15  # haematoxylin (natural-log OD) of the counterstained tissue between cells


def island_grid(rows, cols) -> np.ndarray:
    """uint8 [rows, cols]: 0 glass, 1 the tumour island (left), 2 the normal one (right).

    Each island is the ellipse inscribed in its half of the grid, shrunk by one cell's
    margin; the middle column (odd `cols`) or the two middle ones stay glass.
    """
    if rows < 2 or cols < 5:
        raise ValueError(f"a Ki-67 phantom slide needs >= 2 x 5 cells, got {rows} x {cols}")
    r, c = np.mgrid[0:rows, 0:cols] + 0.5
    half = (cols - 1) // 2  # columns per island; the rest between them is glass
    grid = np.zeros((rows, cols), np.uint8)
    for island, left in ((1, 0), (2, cols - half)):
        centre_c, radius_c = left + half / 2, half / 2
        inside = ((r - rows / 2) / (rows / 2)) ** 2 + ((c - centre_c) / radius_c) ** 2 <= 1.0
        grid[inside] = island
    return grid


def cell_twin(seed, row, col, label) -> ihc.Twin:
    """The layout of grid cell (row, col): the same for the same (seed, row, col, label)."""
    return ihc.make_twin(np.random.default_rng([seed, row, col]), CELL, label)


def _counterstain(seed, row, col, rgb):
    """`rgb` under a layer of haematoxylin-counterstained stroma (Beer–Lambert: the
    layer's OD multiplies the light by exp(-OD)), so tissue shows on glass."""
    rng = np.random.default_rng([seed, row, col, 2])
    amount = STROMA_OD * np.clip(1 + 0.15 * cell_shapes._noise(rng, (CELL, CELL), 4.0), 0.7, 1.3)
    light = np.exp(-amount[..., None] * cell_shapes.STAIN_MATRIX[0])
    return np.clip(np.rint(rgb * light), 0, 255).astype(np.uint8)


def write_slide(out, *, height, width, seed=0, progress=None) -> dict:
    """Writes `KI67.tif`, `nuclei.csv`, `truth.json` and `tumour_mask.png` under `out`.

    Args:
      out: folder to write to (created).
      height, width: level-0 size in pixels, multiples of 256, at least 512 x 1280.
      seed: >= 0; equal arguments give byte-identical files.
      progress: optional `progress(done, total)` per pyramid tile.

    Returns:
      What `truth.json` holds.
    """
    slide_grid.check_size(height, width, CELL)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    grid = island_grid(height // CELL, width // CELL)
    rows = []

    def read_tile(row, col):
        island = int(grid[row, col])
        if not island:
            return slide_grid.glass(np.random.default_rng([seed, row, col, 1]))
        twin = cell_twin(seed, row, col, ISLANDS[island])
        found = slide_grid.centroids(twin.instances, len(twin.positive), row, col, CELL)
        for (x, y, area), positive in zip(found, twin.positive):
            rows.append((round(x, 2), round(y, 2), area, int(positive), island))
        return _counterstain(seed, row, col, twin.ki67)

    pyramid.write_pyramid(
        out / "KI67.tif", read_tile, height, width, tile_size=CELL, progress=progress
    )
    with open(out / "nuclei.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "y", "area", "positive", "island", "class"])
        w.writerows((*r, ISLANDS[r[4]]) for r in rows)
    Image.fromarray(np.where(grid == 1, 255, 0).astype(np.uint8)).save(out / "tumour_mask.png")
    truth = {
        "generator": "kerasg2c.phantoms.ki67_slides",
        "seed": seed,
        "width": width,
        "height": height,
        "cell": CELL,
        "nuclei": len(rows),
        "index": _index([r[3] for r in rows]),
        "islands": {
            name: {
                "island": island,
                "cells": int((grid == island).sum()),
                "nuclei": sum(r[4] == island for r in rows),
                "index": _index([r[3] for r in rows if r[4] == island]),
            }
            for island, name in ISLANDS.items()
        },
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def _index(positive) -> float:
    return round(float(np.mean(positive)), 4) if len(positive) else float("nan")


def read_nuclei(folder) -> dict:
    """`nuclei.csv` of a written slide as arrays: x, y, area, positive, island."""
    with open(pathlib.Path(folder) / "nuclei.csv", newline="") as f:
        records = list(csv.DictReader(f))
    columns = {"x": float, "y": float, "area": int, "positive": int, "island": int}
    return {k: np.array([kind(r[k]) for r in records]) for k, kind in columns.items()}


def _check(height, width):
    slide_grid.check_size(height, width, CELL)
    island_grid(height // CELL, width // CELL)


def main(argv):
    del argv
    cli.slide_main(
        "ki67 slide phantoms",
        write_slide,
        "KI67.tif",
        ("width", "height", "nuclei", "index"),
        _check,
    )


if __name__ == "__main__":
    cli.define_slide_flags(2560, 2048, 512)  # when run: importing defines no flags
    app.run(main)
