"""Cuts a slide into tissue tiles: PNG files in one folder and a JSON index, resumable.

The grid covers one level with non-overlapping `size` x `size` tiles (edge tiles padded
with white); a tile is kept when its tissue share under `tissue.tissue_mask` is at least
`min_tissue`. Tiles are read one at a time through `reader`. Each PNG is written to a
hidden temporary file and renamed, so a file with a tile's name is complete: a rerun after
a kill skips those and writes the rest. The index is written the same way, last.
"""

import dataclasses
import os
import time

from absl import logging
from PIL import Image

from kerasg2c import errors, json_files
from kerasg2c.slides import reader, tissue

_LOG_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class Tile:
    """A tile: top-left corner in the level's pixels (x, y) and in level 0 (x0, y0)."""

    x: int
    y: int
    x0: int
    y0: int
    tissue: float

    def file_name(self, prefix, level) -> str:
        return f"{prefix}__l{level}_x{self.x0:06d}_y{self.y0:06d}.png"


def select_tiles(slide, mask, *, level, size, min_tissue) -> tuple[list[Tile], int]:
    """(the kept tiles in row-major order, the number of tiles in the grid)."""
    width, height = slide.level_dimensions[level]
    downsample = slide.level_downsamples[level]
    kept, total = [], 0
    for y in range(0, height, size):
        for x in range(0, width, size):
            total += 1
            x0, y0 = round(x * downsample), round(y * downsample)
            share = mask.fraction(x0, y0, size * downsample, size * downsample)
            if share >= min_tissue:
                kept.append(Tile(x, y, x0, y0, round(share, 4)))
    return kept, total


def tile_slide(
    slide_path,
    folder,
    index_path,
    *,
    prefix,
    level=0,
    size=256,
    min_tissue=0.5,
    backend="auto",
    relative_to=None,
) -> tuple[dict, int]:
    """Writes the slide's tissue tiles as `folder/<prefix>__l<level>_x<x0>_y<y0>.png` and
    their index to `index_path`; files in the index are relative to `relative_to`
    (default: the index's folder). Returns (the index, how many tiles this call wrote).

    Raises:
      UserError: the slide cannot be read, or `level`, `size` or `min_tissue` is invalid.
    """
    if size <= 0:
        raise errors.UserError(f"--size={size}: must be positive")
    if not 0 <= min_tissue <= 1:
        raise errors.UserError(f"--min_tissue={min_tissue}: must be in [0, 1]")
    relative_to = relative_to or os.path.dirname(os.path.abspath(index_path))
    with reader.open_slide(slide_path, backend=backend) as slide:
        if not 0 <= level < slide.level_count:
            raise errors.UserError(
                f"--level={level}: slide {slide_path} has levels 0 to {slide.level_count - 1}"
            )
        mask = tissue.tissue_mask(slide)
        tiles, total = select_tiles(slide, mask, level=level, size=size, min_tissue=min_tissue)
        logging.info(
            "tiling %s: level %d %s, %d of %d tiles have >= %.0f %% tissue (OD threshold %.3f)",
            slide_path,
            level,
            slide.level_dimensions[level],
            len(tiles),
            total,
            100 * min_tissue,
            mask.threshold,
        )
        if not tiles:
            logging.warning("tiling %s: no tissue found, no tiles written", slide_path)
        os.makedirs(folder, exist_ok=True)
        _remove_stale_temporaries(folder, prefix)
        written = _write_tiles(slide, tiles, folder, prefix, level, size)
        index = {
            "slide": os.path.abspath(slide_path),
            "level": level,
            "size": size,
            "downsample": slide.level_downsamples[level],
            "level_dimensions": slide.level_dimensions[level],
            "min_tissue": min_tissue,
            "mask": {
                "threshold_od": round(mask.threshold, 4),
                "shape": list(mask.mask.shape),
                "tissue_fraction": round(float(mask.mask.mean()), 4),
            },
            "grid_tiles": total,
            "tiles": [
                dataclasses.asdict(t)
                | {
                    "file": os.path.relpath(
                        os.path.join(folder, t.file_name(prefix, level)), relative_to
                    )
                }
                for t in tiles
            ],
        }
    os.makedirs(os.path.dirname(os.path.abspath(index_path)), exist_ok=True)
    json_files.write(index_path, index, indent=1)
    return index, written


def _write_tiles(slide, tiles, folder, prefix, level, size):
    """Writes the tiles not yet complete in `folder`; returns how many it wrote."""
    started = last_log = time.perf_counter()
    written = skipped = 0
    for done, tile in enumerate(tiles, 1):
        path = os.path.join(folder, tile.file_name(prefix, level))
        if _complete(path, size):
            skipped += 1
        else:
            image = slide.read_region(level, tile.x, tile.y, size, size)
            temporary = os.path.join(folder, f".{os.path.basename(path)}.tmp")
            Image.fromarray(image).save(temporary, format="PNG", compress_level=1)
            os.replace(temporary, path)
            written += 1
        now = time.perf_counter()
        if now - last_log >= _LOG_SECONDS or done == len(tiles):
            last_log = now
            logging.info(
                "tiles: %d/%d (%d written, %d already there), %.1f tiles/s",
                done,
                len(tiles),
                written,
                skipped,
                written / max(now - started, 1e-9),
            )
    return written


def _complete(path, size):
    """Whether `path` is a PNG of size x size whose chunks are intact."""
    try:
        with Image.open(path) as image:
            if image.size != (size, size):
                return False
            image.verify()
        return True
    except (OSError, SyntaxError, ValueError):  # PIL's verify raises SyntaxError too
        return False


def _remove_stale_temporaries(folder, prefix):
    """Deletes the temporary files a killed run of this slide left behind."""
    for entry in os.listdir(folder):
        if entry.startswith(f".{prefix}__") and entry.endswith(".tmp"):
            os.remove(os.path.join(folder, entry))
