"""A streaming writer of tiled, compressed, pyramidal TIFFs that OpenSlide and QuPath open.

Level 0 is page 0; each further level halves both sides (rounding up) and is the next
top-level page, marked reduced-resolution (subfiletype 1), down to the first level that
fits in one tile. OpenSlide's generic-TIFF reader wants exactly this: every level a tiled
top-level directory (it does not read OME SubIFDs). Level k+1 is built from level k
through a temporary file of fixed-size raw tile records read back by seek, so memory
holds a few tiles whatever the size of the slide.
"""

import contextlib
import itertools
import os
import tempfile

import numpy as np
import tifffile

from kerasg2c.slides import reader


def level_sizes(height, width, tile_size) -> list[tuple[int, int]]:
    """(height, width) of every level: halving (rounding up) until one tile holds it."""
    sizes = [(height, width)]
    while sizes[-1][0] > tile_size or sizes[-1][1] > tile_size:
        sizes.append((-(-sizes[-1][0] // 2), -(-sizes[-1][1] // 2)))
    return sizes


def write_pyramid(
    path,
    read_tile,
    height,
    width,
    *,
    tile_size=256,
    compression="zlib",
    workdir=None,
    progress=None,
):
    """Writes the slide whose level-0 tile (row, col) is `read_tile(row, col)` to `path`.

    Args:
      path: the TIFF to write; written as `path.partial` and renamed when complete.
      read_tile: (row, col) -> uint8 [<= tile_size, <= tile_size, 3], the level-0 pixels
        from (row * tile_size, col * tile_size); what lies outside the image is ignored,
        what a smaller edge tile leaves out is white.
      height, width: level-0 size in pixels.
      tile_size: TIFF tile side (a multiple of 16).
      compression: a tifffile compression; "zlib" is lossless and needs no imagecodecs.
      workdir: where the temporary tile records go (default: the system's temp folder).
      progress: optional `progress(done, total)` called after each tile of any level.
    """
    if tile_size % 16 or tile_size <= 0:
        raise ValueError(f"tile_size {tile_size} must be a positive multiple of 16")
    path = os.fspath(path)
    sizes = level_sizes(height, width, tile_size)
    total = sum(-(-h // tile_size) * -(-w // tile_size) for h, w in sizes)
    done = itertools.count(1)

    def tick():
        if progress:
            progress(next(done), total)

    partial = path + ".partial"
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(dir=workdir, prefix="pyramid-"))
        tif = stack.enter_context(tifffile.TiffWriter(partial, bigtiff=height * width * 4 > 2**31))
        source = read_tile
        for level, size in enumerate(sizes):
            records = os.path.join(tmp, f"level{level}.raw")
            with open(records, "wb") as sink:
                tif.write(
                    _tiles(source, size, tile_size, sink, tick),
                    shape=(*size, 3),
                    dtype=np.uint8,
                    tile=(tile_size, tile_size),
                    photometric="rgb",
                    compression=compression,
                    subfiletype=1 if level else 0,
                    metadata=None,
                )
            source = _halving(stack.enter_context(open(records, "rb")), size, tile_size)
    os.replace(partial, path)


def _tiles(read_tile, size, tile_size, sink, tick):
    """The level's tiles in row-major order, white-padded to full size; each is also
    appended to `sink`, the records the next level is built from."""
    height, width = size
    for row in range(-(-height // tile_size)):
        for col in range(-(-width // tile_size)):
            tile = np.asarray(read_tile(row, col))
            valid_h = min(tile_size, height - row * tile_size, tile.shape[0])
            valid_w = min(tile_size, width - col * tile_size, tile.shape[1])
            full = np.full((tile_size, tile_size, 3), 255, np.uint8)
            full[:valid_h, :valid_w] = tile[:valid_h, :valid_w, :3]
            sink.write(full.tobytes())
            tick()
            yield full


def _halving(records, size, tile_size):
    """read_tile of the next level: tile (i, j) is the 2x2 mean of the previous level's
    tiles (2i..2i+1, 2j..2j+1), read from its records; pixels past its edge are left out."""
    height, width = size
    rows, cols = -(-height // tile_size), -(-width // tile_size)
    record = tile_size * tile_size * 3

    def read_tile(row, col):
        block = np.full((2 * tile_size, 2 * tile_size, 3), 255, np.uint8)
        for dr in range(2):
            for dc in range(2):
                r, c = 2 * row + dr, 2 * col + dc
                if r < rows and c < cols:
                    records.seek((r * cols + c) * record)
                    tile = np.frombuffer(records.read(record), np.uint8)
                    block[
                        dr * tile_size : (dr + 1) * tile_size, dc * tile_size : (dc + 1) * tile_size
                    ] = tile.reshape(tile_size, tile_size, 3)
        valid_h = min(2 * tile_size, height - 2 * row * tile_size)
        valid_w = min(2 * tile_size, width - 2 * col * tile_size)
        return reader.block_mean(block[:valid_h, :valid_w], 2)

    return read_tile
