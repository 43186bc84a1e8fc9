"""Every nucleus of a whole H&E slide with its InfoWGAN-GP category, for QuPath.

The cells pipeline of Hu et al. (§III-B: Macenko stain separation, haematoxylin
threshold, holes filled, small objects and protrusions removed, opening) runs on the
slide's tissue tile by tile (`slides.analysis_tiles`: a margin of context, a nucleus
counted in the tile its centroid falls in); its length and area settings are level-0
pixels, divided by the level's downsample (areas by its square). Each nucleus' crop
(`nuclei.extract_nuclei`) goes to `categorise`, which returns Q(c | x) over the k
categories (a trained InfoWGAN-GP's `model.keras`, or a served model); the nucleus takes
the most probable one. The slide's category proportions are the paper's per-image cell
proportions P_i = X_i / Σ X_i (§IV-E), here over the whole slide and per tissue region.

Outputs in the slide's folder, each written under a temporary name and renamed:
- `cells.geojson`: every nucleus a `detection` with its outline, classified
  `Cluster <c>` (one colour per category) with the measurements `Nucleus: Area px^2`
  (level 0), `Nucleus: Hematoxylin mean` (the haematoxylin image, 0–255, 255 = none) and
  `Category probability`; every tissue region an annotation with its proportions;
- `cells_preview.png`: the slide's thumbnail with every nucleus a dot of its category's
  colour;
- `cells_nuclei.csv`: level-0 `x`, `y`, `area`, `category`, `probability`, `region`;
- the returned summary (`batch.run` writes it as `cells.json`).

Examples:

    categorise = lambda crops: model.predict_on_batch(crops)  # uint8 crops / 255
    summary = cell_slide.analyse("slide.tif", "out/slide", categorise=categorise,
                                 categories=4, image_size=32)
    summary["proportions"]
"""

import csv
import os
import time

import numpy as np
from matplotlib import colormaps
from scipy import ndimage

from kerasg2c import errors
from kerasg2c.pathology import nuclei, stain
from kerasg2c.slides import analysis_tiles, geojson, preview, reader

ANALYSIS = "cells"
TILE_SIZE = 512
MARGIN = 48  # level-0 pixels of context: more than the largest nucleus' diameter
# The cells job's segmentation defaults (configs/cells.py), in level-0 pixels.
SEGMENTATION = {"threshold": 120, "min_area": 200, "protrusion_width": 5, "opening_size": 7}


def category_class(c) -> tuple:
    """QuPath classification of category `c`: ("Cluster c", a tab10 colour)."""
    rgb = colormaps["tab10"](c % 10)[:3]
    return f"Cluster {c}", tuple(int(round(v * 255)) for v in rgb)


def load_run(run):
    """(categorise, categories, image_size) of the InfoWGAN-GP run folder `run`: its
    `model.keras` in this process (TensorFlow imported here, not before)."""
    path = os.path.join(run, "model.keras")
    if not os.path.isfile(path):
        raise errors.MissingPathError(
            f"--infogan_run={run}: no model.keras (python -m trainers.infowgan)"
        )
    import keras

    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)

    model = keras.saving.load_model(path, compile=False)
    if not hasattr(model, "categories"):
        raise errors.UserError(f"--infogan_run={run}: model.keras is a {type(model).__name__}")
    return model.predict_on_batch, int(model.categories), int(model.image_size)


def analyse(
    path,
    folder,
    *,
    categorise,
    categories,
    image_size,
    level=0,
    tile_size=TILE_SIZE,
    segmentation=None,
    batch_size=256,
    backend="auto",
) -> dict:
    """Segments and categorises every nucleus on the slide's tissue.

    Args:
      path: the slide.
      folder: where `cells.geojson` and `cells_nuclei.csv` go (exists).
      categorise: float32 [N, S, S, 3] crops in [0, 1] -> [N, categories] Q(c | x).
      categories: k, the number of categories.
      image_size: S, the crop side the model takes.
      level: the slide level analysed.
      tile_size: tile side at `level`.
      segmentation: overrides of `SEGMENTATION` (level-0 pixels).
      batch_size: crops per `categorise` call.
      backend: `reader.open_slide`'s backend.

    Returns:
      The summary: `nuclei`, `proportions` (k shares), `regions`, `tiles`, `tiles_per_s`.
    """
    started = time.perf_counter()
    settings = {**SEGMENTATION, **(segmentation or {})}
    with reader.open_slide(path, backend=backend) as slide:
        mask, regions, count = analysis_tiles.tissue(slide, path, level)
        ds = slide.level_downsamples[level]
        tiles = analysis_tiles.tissue_tiles(slide, mask, level, tile_size)
        progress = analysis_tiles.Progress("cells", path, len(tiles), "nuclei")
        counts = np.zeros((count + 1, categories), np.int64)
        geo_path = os.path.join(folder, "cells.geojson")
        csv_path = os.path.join(folder, "cells_nuclei.csv")
        with (
            geojson.FeatureWriter(geo_path) as out,
            open(csv_path + ".partial", "w", newline="") as f,
        ):
            rows = csv.writer(f)
            rows.writerow(["x", "y", "area", "category", "probability", "region"])
            for i, (x, y) in enumerate(tiles, start=1):
                window = analysis_tiles.read_window(
                    slide, level, x, y, tile_size, int(np.ceil(MARGIN / ds))
                )
                for cell in _cells(window, settings, categorise, image_size, batch_size):
                    region = analysis_tiles.region_at(regions, mask.scale, cell["x"], cell["y"])
                    counts[region, cell["category"]] += 1
                    out.add(_detection(cell))
                    rows.writerow(
                        [cell[k] for k in ("x", "y", "area", "category", "probability")] + [region]
                    )
                progress(i, counts.sum())
            summaries = []
            for region in range(1, count + 1):
                summary = {"region": region, **_proportions(counts[region])}
                measurements = {
                    f"Cluster {c} %": 100 * p for c, p in enumerate(summary["proportions"])
                }
                out.add(
                    geojson.feature(
                        analysis_tiles.region_polygon(regions, region, mask.scale),
                        "annotation",
                        measurements=measurements,
                        name=f"Tissue region {region}",
                    )
                )
                summaries.append(summary)
        os.replace(csv_path + ".partial", csv_path)
        found = np.loadtxt(csv_path, delimiter=",", skiprows=1, usecols=(0, 1, 3), ndmin=2)
        palette = np.array([category_class(c)[1] for c in range(categories)])
        preview.dots(slide, os.path.join(folder, "cells_preview.png"), found[:, 0], found[:, 1],
                     palette[found[:, 2].astype(int)])  # fmt: skip
    seconds = time.perf_counter() - started
    return {
        "analysis": ANALYSIS,
        "level": level,
        "tile_size": tile_size,
        "segmentation": settings,
        "categories": categories,
        "tiles": len(tiles),
        "tiles_per_s": round(len(tiles) / seconds, 3),
        **_proportions(counts.sum(0)),
        "regions": summaries,
        "geojson": os.path.basename(geo_path),
        "nuclei_csv": os.path.basename(csv_path),
        "preview": "cells_preview.png",
    }


def _cells(window, settings, categorise, image_size, batch_size):
    """The nuclei `window` owns, segmented, cropped and categorised."""
    ds = window.downsample
    found = nuclei.segment_tile(
        window.rgb,
        threshold=settings["threshold"],
        min_area=max(2, int(round(settings["min_area"] / ds**2))),
        protrusion_width=int(round(settings["protrusion_width"] / ds)),
        opening_size=int(round(settings["opening_size"] / ds)),
        beta=stain.PAPER_BETA,
        size=image_size,
    )
    owned = [i for i, (row, col) in enumerate(found.centroids) if window.owns(row, col)]
    if not owned:
        return
    crops = found.crops[owned].astype(np.float32) / 255.0
    q = np.concatenate(
        [
            np.asarray(categorise(crops[s : s + batch_size]))
            for s in range(0, len(crops), batch_size)
        ]
    )
    haematoxylin = ndimage.mean(found.haematoxylin, found.labels, np.asarray(owned) + 1)
    for j, i in enumerate(owned):
        row, col = found.centroids[i]
        top, left, bottom, right = found.bboxes[i]
        x, y = window.to_level0(row, col)
        category = int(np.argmax(q[j]))
        yield {
            "x": round(x, 2),
            "y": round(y, 2),
            "area": round(float(found.areas[i]) * ds**2, 1),
            "category": category,
            "probability": round(float(q[j, category]), 4),
            "haematoxylin": round(float(haematoxylin[j]), 2),
            "outline": geojson.ring(
                found.labels[top:bottom, left:right] == i + 1,
                x=window.x + left,
                y=window.y + top,
                downsample=ds,
            ),
        }


def _detection(cell) -> dict:
    return geojson.feature(
        geojson.polygon(cell["outline"]),
        "detection",
        category_class(cell["category"]),
        {
            "Nucleus: Area px^2": cell["area"],
            "Nucleus: Hematoxylin mean": cell["haematoxylin"],
            "Category probability": cell["probability"],
        },
    )


def _proportions(counts) -> dict:
    total = int(counts.sum())
    shares = counts / total if total else np.zeros(len(counts))
    return {"nuclei": total, "proportions": [round(float(p), 4) for p in shares]}
