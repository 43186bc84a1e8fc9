"""A trained top-1 MIL classifier over a whole slide: every instance's tumour probability.

The slide's tissue is read at `level` in square blocks of instances (the run's
`instance_size` pixels each, the size it was trained on) and each block goes to
`score_blocks`: the run's `model.keras` in this process (`load_run`, in inference mode on
[0, 1] pixels, as `mil.instances.Scorer` scores tiles), or the run exported and served by
Triton (`serving.slide_models`, whose blocks are the served model's tiles). An instance
whose box is at least `min_tissue` tissue (`slides.tissue`) keeps its score. The slide's score
is the largest instance probability: top-1 MIL's tile score, here over the whole slide.

Outputs in the slide's folder, each written under a temporary name and renamed:
- `mil.geojson`: every scored instance a QuPath `tile` with its level-0 box and the
  measurement `Tumour probability`, classified `Tumor` (QuPath's class) at >= 0.5;
- `mil_heatmap.tif`: the heat map as a pyramid of the slide's level-0 size (each instance
  its probability's colour on the magma map, unscored area white), to lay over the slide;
- `mil_preview.png`: the heat map over the slide's thumbnail;
- `mil_scores.npy`: the float32 probability grid at instance resolution (NaN unscored);
- the returned summary (`batch.run` writes it as `mil.json`).

Examples:

    score_blocks, instance_size, block = slide_scores.load_run("runs/mil")
    summary = slide_scores.analyse("slide.tif", "out/slide", score_blocks=score_blocks,
                                   instance_size=instance_size, block=block)
    summary["slide_score"], summary["tumour_instances"]
"""

import json
import os
import time

import numpy as np
from matplotlib import colormaps

from kerasg2c import errors
from kerasg2c.slides import analysis_tiles, geojson, preview, pyramid, reader, tissue

ANALYSIS = "mil"
BLOCK = 8  # instances per side of one read, in-process
MIN_TISSUE = 0.5


def load_run(run):
    """(score_blocks, instance_size, block side) of the MIL run folder `run`: its
    `model.keras` in this process (TensorFlow imported here, not before).

    `score_blocks(blocks)`: uint8 [B, side, side, 3] -> float32 [B, g, g] tumour
    probabilities of each block's g × g instances (row-major), as `mil.instances.Scorer`
    scores tiles.
    """
    model_path, report_path = os.path.join(run, "model.keras"), os.path.join(run, "report.json")
    for path in (model_path, report_path):
        if not os.path.isfile(path):
            raise errors.MissingPathError(
                f"--run={run}: no {os.path.basename(path)} (train it with python -m trainers.mil)"
            )
    with open(report_path) as f:
        report = json.load(f)
    if report.get("trainer") != "mil":
        raise errors.UserError(f"--run={run}: report.json is a {report.get('trainer')!r} run")
    import keras

    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)

    model = keras.saving.load_model(model_path, compile=False)
    s = int(report["instance_size"])

    def score_blocks(blocks):
        b, side = len(blocks), blocks.shape[1]
        g = side // s
        cut = blocks.reshape(b, g, s, g, s, 3).transpose(0, 1, 3, 2, 4, 5).reshape(-1, s, s, 3)
        logits = model(cut.astype(np.float32) / 255.0, training=False)
        p = keras.ops.softmax(keras.ops.cast(logits, "float32"), axis=-1)
        return keras.ops.convert_to_numpy(p)[:, 1].reshape(b, g, g)

    return score_blocks, s, BLOCK * s


def analyse(
    path,
    folder,
    *,
    score_blocks,
    instance_size,
    block,
    level=0,
    min_tissue=MIN_TISSUE,
    batch_blocks=8,
    backend="auto",
) -> dict:
    """Scores the slide's tissue instances; writes the GeoJSON, heat map and score grid.

    Args:
      path: the slide.
      folder: where the outputs go (exists).
      score_blocks: uint8 blocks [B, block, block, 3] -> [B, g, g] tumour probabilities
        (`load_run`, or `serving.slide_models.triton_block_scorer`).
      instance_size: instance side in pixels of `level`.
      block: side of one block in pixels of `level`, a multiple of `instance_size`.
      level: the slide level whose pixels match the training tiles'.
      min_tissue: the tissue share an instance needs to be scored.
      batch_blocks: blocks per `score_blocks` call.
      backend: `reader.open_slide`'s backend.

    Returns:
      The summary: `slide_score`, `instances` (scored), `tumour_instances` (>= 0.5),
      `blocks`, `blocks_per_s` (tissue tiles/s), `instances_per_s` and the settings.
    """
    if block % instance_size:
        raise errors.UserError(f"block {block} is not a multiple of instance size {instance_size}")
    started = time.perf_counter()
    s, g = instance_size, block // instance_size
    with reader.open_slide(path, backend=backend) as slide:
        if not 0 <= level < slide.level_count:
            raise errors.UserError(f"--level {level}: {path} has levels 0..{slide.level_count - 1}")
        mask = tissue.tissue_mask(slide)
        ds, size0 = slide.level_downsamples[level], slide.level_dimensions[0]
        width, height = slide.level_dimensions[level]
        scores = np.full((-(-height // s), -(-width // s)), np.nan, np.float32)
        blocks = analysis_tiles.tissue_tiles(slide, mask, level, block)
        progress = analysis_tiles.Progress("mil", path, len(blocks), "instances")
        for start in range(0, len(blocks), batch_blocks):
            batch = blocks[start : start + batch_blocks]
            images = np.stack([slide.read_region(level, x, y, block, block) for x, y in batch])
            for (x, y), grid in zip(batch, score_blocks(images)):
                for r, c in np.ndindex(g, g):
                    row, col = y // s + r, x // s + c
                    box = ((x + c * s) * ds, (y + r * s) * ds, s * ds, s * ds)
                    if (
                        row < scores.shape[0]
                        and col < scores.shape[1]
                        and (mask.fraction(*box) >= min_tissue)
                    ):
                        scores[row, col] = grid[r, c]
            progress(start + len(batch), int(np.isfinite(scores).sum()))
        colours = _write_outputs(folder, scores, s * ds, size0)
        preview.overlay(slide, os.path.join(folder, "mil_preview.png"), colours)
    seconds = time.perf_counter() - started
    scored = np.isfinite(scores)
    return {
        "analysis": ANALYSIS,
        "level": level,
        "instance_size": instance_size,
        "min_tissue": min_tissue,
        "blocks": len(blocks),
        "blocks_per_s": round(len(blocks) / seconds, 3),
        "instances": int(scored.sum()),
        "instances_per_s": round(float(scored.sum()) / seconds, 2),
        "tumour_instances": int((scores[scored] >= 0.5).sum()),
        "slide_score": round(float(scores[scored].max()), 4) if scored.any() else float("nan"),
        "geojson": "mil.geojson",
        "heatmap": "mil_heatmap.tif",
        "preview": "mil_preview.png",
    }


def _write_outputs(folder, scores, cell, size0) -> np.ndarray:
    """mil.geojson, mil_heatmap.tif and mil_scores.npy; `cell` is an instance's level-0
    side. Returns the heat map's colour per instance (white: unscored)."""
    with geojson.FeatureWriter(os.path.join(folder, "mil.geojson")) as out:
        for r, c in np.argwhere(np.isfinite(scores)):
            p = float(scores[r, c])
            out.add(
                geojson.feature(
                    geojson.box(c * cell, r * cell, cell, cell),
                    "tile",
                    geojson.TUMOR if p >= 0.5 else None,
                    {"Tumour probability": round(p, 4)},
                )
            )
    colours = np.round(colormaps["magma"](np.nan_to_num(scores))[..., :3] * 255).astype(np.uint8)
    colours[~np.isfinite(scores)] = 255
    width0, height0 = size0
    tile = 256

    def read_tile(row, col):
        ys = np.minimum((row * tile + np.arange(tile)) // cell, scores.shape[0] - 1).astype(int)
        xs = np.minimum((col * tile + np.arange(tile)) // cell, scores.shape[1] - 1).astype(int)
        return colours[ys[:, None], xs[None, :]]

    pyramid.write_pyramid(
        os.path.join(folder, "mil_heatmap.tif"), read_tile, height0, width0, tile_size=tile
    )
    np.save(os.path.join(folder, "mil_scores.npy.partial.npy"), scores)
    os.replace(
        os.path.join(folder, "mil_scores.npy.partial.npy"), os.path.join(folder, "mil_scores.npy")
    )
    return colours
