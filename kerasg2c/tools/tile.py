"""Cuts a whole slide into tissue tiles inside a DATA_ROOT (docs/DATA.md).

python -m kerasg2c.tools.tile --slide=SLIDE --out=DATA_ROOT [--size=256] [--level=0]
    [--min_tissue=0.5] [--stain=PAS] [--label=CLASS --split=train]

With --label the tiles are labelled patches of patient <slide name>,
DATA_ROOT/labeled/<split>/<label>/<slide>__l<level>_x<x0>_y<y0>.png; without, unpaired
reference patches, DATA_ROOT/reference/<stain>/<slide>__l<level>_x<x0>_y<y0>.png (x0, y0:
the tile's level-0 corner). The index is DATA_ROOT/tiles/<slide>.json. Rerun the same
command after an interruption: finished tiles are kept, the rest written. Exit 2 with one
line naming the file or flag when one cannot be used.

Examples:

    kerasg2c tile --slide=data/slide/PAS.tif --out=data/wsi --label=noa --split=train
    kerasg2c tile --slide=data/slide/HE.tif --out=data/wsi --stain=HE --min_tissue=0.3
"""

import os
import sys
import time

from absl import app, flags, logging

from kerasg2c.data import layout
from kerasg2c.errors import UserError
from kerasg2c.slides import reader, tiling

_SLIDE = flags.DEFINE_string("slide", None, "The slide (OpenSlide formats, TIFF, PNG, JPEG).")
_OUT = flags.DEFINE_string("out", None, "The DATA_ROOT to write tiles into.")
_SIZE = flags.DEFINE_integer("size", 256, "Tile side in pixels of --level.")
_LEVEL = flags.DEFINE_integer("level", 0, "Slide level to tile (0 = full resolution).")
_MIN_TISSUE = flags.DEFINE_float("min_tissue", 0.5, "Keep tiles with at least this tissue share.")
_STAIN = flags.DEFINE_string("stain", layout.DEFAULT_SOURCE_STAIN, "Stain of unlabelled tiles.")
_LABEL = flags.DEFINE_string("label", None, "Class of the slide: its tiles become labeled/.")
_SPLIT = flags.DEFINE_enum("split", "train", list(layout.SPLITS), "Split of labelled tiles.")
_BACKEND = flags.DEFINE_enum("backend", "auto", list(reader.BACKENDS), "Slide reader.")
flags.mark_flags_as_required(["slide", "out"])


def slide_name(path) -> str:
    """The slide's file name without its extension; "__" (the patient separator) -> "_"."""
    stem = os.path.basename(os.fspath(path)).split(".")[0]
    while "__" in stem:
        stem = stem.replace("__", "_")
    return stem


def destination(root, *, label, split, stain) -> str:
    """The DATA_ROOT folder the tiles of a slide go to."""
    if label:
        return os.path.join(root, "labeled", split, label)
    return os.path.join(root, "reference", stain)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    name = slide_name(_SLIDE.value)
    folder = destination(_OUT.value, label=_LABEL.value, split=_SPLIT.value, stain=_STAIN.value)
    index_path = os.path.join(_OUT.value, "tiles", f"{name}.json")
    started = time.perf_counter()
    try:
        index, written = tiling.tile_slide(
            _SLIDE.value,
            folder,
            index_path,
            prefix=name,
            level=_LEVEL.value,
            size=_SIZE.value,
            min_tissue=_MIN_TISSUE.value,
            backend=_BACKEND.value,
            relative_to=_OUT.value,
        )
    except UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    logging.info(
        "tile: %d tiles in %s (%d written now, %.1f tiles/s); index %s",
        len(index["tiles"]),
        folder,
        written,
        written / max(seconds, 1e-9),
        index_path,
    )
    return 0


if __name__ == "__main__":
    app.run(main)
