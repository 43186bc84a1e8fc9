"""A trained top-1 MIL classifier over a whole slide: every instance's tumour probability.

The slide's tissue is read at `level` in blocks of `BLOCK` × `BLOCK` instances (the run's
`instance_size` pixels each, the size it was trained on); an instance whose box is at
least `min_tissue` tissue (`slides.tissue`) is scored by the run's `model.keras` in
inference mode on [0, 1] pixels, as `mil.instances.Scorer` scores tiles. The slide's score
is the largest instance probability: top-1 MIL's tile score, here over the whole slide.

Outputs in the slide's folder, each written under a temporary name and renamed:
- `mil.geojson`: every scored instance a QuPath `tile` with its level-0 box and the
  measurement `Tumour probability`, classified `Tumor` (QuPath's class) at >= 0.5;
- `mil_heatmap.tif`: the heat map as a pyramid of the slide's level-0 size (each instance
  its probability's colour on the magma map, unscored area white), to lay over the slide;
- `mil_scores.npy`: the float32 probability grid at instance resolution (NaN unscored);
- the returned summary (`batch.run` writes it as `mil.json`).

Examples:

    summary = slide_scores.analyse("slide.tif", "out/slide", run="runs/mil")
    summary["slide_score"], summary["tumour_instances"]
"""

import json
import os
import time

import keras
import numpy as np
from absl import logging
from matplotlib import colormaps

from kerasg2c import errors
from kerasg2c.mil import instances
from kerasg2c.slides import geojson, pyramid, reader, tissue

ANALYSIS = "mil"
BLOCK = 8  # instances per side of one read
MIN_TISSUE = 0.5


def load_run(run) -> tuple[keras.Model, int]:
    """The MIL run's `model.keras` and its instance size (from `report.json`)."""
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
    return keras.saving.load_model(model_path, compile=False), int(report["instance_size"])


def analyse(
    path,
    folder,
    *,
    model,
    instance_size,
    level=0,
    min_tissue=MIN_TISSUE,
    batch_size=256,
    backend="auto",
) -> dict:
    """Scores the slide's tissue instances; writes the GeoJSON, heat map and score grid.

    Args:
      path: the slide.
      folder: where the outputs go (exists).
      model: the MIL classifier (`load_run`); its class 1 is tumour.
      instance_size: instance side in pixels of `level`.
      level: the slide level whose pixels match the training tiles'.
      min_tissue: the tissue share an instance needs to be scored.
      batch_size: instances per model call.
      backend: `reader.open_slide`'s backend.

    Returns:
      The summary: `slide_score`, `instances` (scored), `tumour_instances` (>= 0.5),
      `blocks`, `instances_per_s` and the settings.
    """
    started = time.perf_counter()
    with reader.open_slide(path, backend=backend) as slide:
        if not 0 <= level < slide.level_count:
            raise errors.UserError(f"--level {level}: {path} has levels 0..{slide.level_count - 1}")
        mask = tissue.tissue_mask(slide)
        ds = slide.level_downsamples[level]
        width, height = slide.level_dimensions[level]
        s, side = instance_size, BLOCK * instance_size
        scores = np.full((-(-height // s), -(-width // s)), np.nan, np.float32)
        blocks = [
            (x, y)
            for y in range(0, height, side)
            for x in range(0, width, side)
            if mask.fraction(x * ds, y * ds, side * ds, side * ds) > 0
        ]
        last = time.perf_counter()
        for i, (x, y) in enumerate(blocks, start=1):
            cells = [
                (r, c)
                for r in range(BLOCK)
                for c in range(BLOCK)
                if mask.fraction((x + c * s) * ds, (y + r * s) * ds, s * ds, s * ds) >= min_tissue
                and y // s + r < scores.shape[0]
                and x // s + c < scores.shape[1]
            ]
            if cells:
                rgb = slide.read_region(level, x, y, side, side).astype(np.float32) / 255.0
                cut = np.stack([rgb[r * s : (r + 1) * s, c * s : (c + 1) * s] for r, c in cells])
                probability = _tumour_probability(model, cut, batch_size)
                for (r, c), p in zip(cells, probability):
                    scores[y // s + r, x // s + c] = p
            if time.perf_counter() - last > 10 or i == len(blocks):
                last = time.perf_counter()
                logging.info("mil %s: %d/%d blocks", os.path.basename(path), i, len(blocks))
    _write_outputs(folder, scores, s * ds, slide.level_dimensions[0])
    seconds = time.perf_counter() - started
    scored = np.isfinite(scores)
    return {
        "analysis": ANALYSIS,
        "level": level,
        "instance_size": instance_size,
        "min_tissue": min_tissue,
        "blocks": len(blocks),
        "instances": int(scored.sum()),
        "instances_per_s": round(float(scored.sum()) / seconds, 2),
        "tumour_instances": int((scores[scored] >= 0.5).sum()),
        "slide_score": round(float(scores[scored].max()), 4) if scored.any() else float("nan"),
        "geojson": "mil.geojson",
        "heatmap": "mil_heatmap.tif",
    }


def _tumour_probability(model, cut, batch_size) -> np.ndarray:
    out = []
    for start in range(0, len(cut), batch_size):
        logits = model(cut[start : start + batch_size], training=False)
        probability = keras.ops.softmax(keras.ops.cast(logits, "float32"), axis=-1)
        out.append(keras.ops.convert_to_numpy(probability)[:, instances.TUMOUR])
    return np.concatenate(out)


def _write_outputs(folder, scores, cell, size0):
    """mil.geojson, mil_heatmap.tif and mil_scores.npy; `cell` is an instance's level-0 side."""
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
