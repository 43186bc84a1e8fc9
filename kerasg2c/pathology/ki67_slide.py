"""The Ki-67 index of a whole slide: every nucleus classified, per tissue region, for QuPath.

The slide's tissue mask (`slides.tissue`) is cut into tissue regions (its connected
pieces). The tissue is read tile by tile at `level`, each tile with a `margin` of context on
every side; `pathology.ki67.ki67_index` finds and scores the nuclei of the whole read
(QuPath's positive cell detection convention: mean nuclear DAB OD >= 0.2, base 10) and a
nucleus belongs to the tile its centroid falls in, so a nucleus across a tile border is
found whole and counted once. Its size limits are level-0 pixels, divided by the level's
downsample (areas by its square) before they are applied.

Outputs in the slide's folder, each written under a temporary name and renamed:
- `ki67.geojson`: each nucleus a `detection` classified `Positive` or `Negative` (QuPath's
  classes and colours) with its outline and measurements (`Nucleus: Area px^2` in level-0
  pixels, `Nucleus: DAB OD mean`, `Nucleus: Hematoxylin OD mean`), and each tissue region
  an `annotation` with QuPath's positive-cell summary measurements (`Num Detections`,
  `Num Positive`, `Num Negative`, `Positive %`);
- `ki67_preview.png`: the slide's thumbnail with every nucleus a red (positive) or blue
  dot;
- `ki67_nuclei.csv`: one row per nucleus: level-0 centroid `x`, `y`, `area`, `dab`,
  `positive`, `region`;
- the returned summary (`batch.run` writes it as `ki67.json`): the slide's index and each
  region's, with counts, tiles and tiles/s.

Examples:

    summary = ki67_slide.analyse("slide.tif", "out/slide", level=1)
    summary["index"], [r["index"] for r in summary["regions"]]
"""

import csv
import os
import time

import numpy as np
from scipy import ndimage
from skimage import measure

from kerasg2c.pathology import ki67
from kerasg2c.slides import analysis_tiles, geojson, preview, reader

ANALYSIS = "ki67"
TILE_SIZE = 512
MARGIN = 32  # level-0 pixels of context around each tile: more than a nucleus' diameter


def analyse(
    path, folder, *, level=0, tile_size=TILE_SIZE, threshold=ki67.DAB_THRESHOLD, backend="auto"
) -> dict:
    """Scores every nucleus on the slide's tissue; writes the GeoJSON and the nuclei CSV.

    Args:
      path: the slide (OpenSlide formats, TIFF pyramids, PNG, JPEG).
      folder: where `ki67.geojson` and `ki67_nuclei.csv` go (exists).
      level: the slide level analysed (0 = full resolution).
      tile_size: tile side in pixels of `level`.
      threshold: mean nuclear DAB OD (base 10) at or above which a nucleus is positive.
      backend: `reader.open_slide`'s backend.

    Returns:
      The summary: `index`, `nuclei`, `positive`, `regions` ([{region, index, nuclei,
      positive, area_px}]), `tiles`, `tiles_per_s` and the settings.

    Raises:
      errors.UserError: the level does not exist or the slide shows no tissue.
    """
    started = time.perf_counter()
    with reader.open_slide(path, backend=backend) as slide:
        mask, regions, count = analysis_tiles.tissue(slide, path, level)
        downsample = slide.level_downsamples[level]
        tiles = analysis_tiles.tissue_tiles(slide, mask, level, tile_size)
        progress = analysis_tiles.Progress("ki67", path, len(tiles), "nuclei")
        counts = np.zeros((count + 1, 2), np.int64)  # per region: nuclei, positive
        geo_path, csv_path = (
            os.path.join(folder, "ki67.geojson"),
            os.path.join(folder, "ki67_nuclei.csv"),
        )
        with (
            geojson.FeatureWriter(geo_path) as out,
            open(csv_path + ".partial", "w", newline="") as f,
        ):
            rows = csv.writer(f)
            rows.writerow(["x", "y", "area", "dab", "positive", "region"])
            for i, (x, y) in enumerate(tiles, start=1):
                window = analysis_tiles.read_window(
                    slide, level, x, y, tile_size, int(np.ceil(MARGIN / downsample))
                )
                for nucleus in _nuclei(window, threshold):
                    region = analysis_tiles.region_at(
                        regions, mask.scale, nucleus["x"], nucleus["y"]
                    )
                    counts[region] += (1, nucleus["positive"])
                    out.add(_detection(nucleus))
                    rows.writerow(
                        [nucleus[k] for k in ("x", "y", "area", "dab")]
                        + [int(nucleus["positive"]), region]
                    )
                progress(i, counts[:, 0].sum())
            summaries = _regions(regions, count, counts, mask.scale)
            for summary in summaries:
                out.add(summary.pop("feature"))
        os.replace(csv_path + ".partial", csv_path)
        found = np.loadtxt(csv_path, delimiter=",", skiprows=1, usecols=(0, 1, 4), ndmin=2)
        colours = np.where(found[:, 2:3] > 0, geojson.POSITIVE[1], geojson.NEGATIVE[1])
        preview.dots(slide, os.path.join(folder, "ki67_preview.png"), found[:, 0], found[:, 1],
                     colours)  # fmt: skip
    seconds = time.perf_counter() - started
    nuclei, positive = (int(v) for v in counts.sum(0))
    return {
        "analysis": ANALYSIS,
        "level": level,
        "downsample": downsample,
        "tile_size": tile_size,
        "threshold": threshold,
        "tiles": len(tiles),
        "tiles_per_s": round(len(tiles) / seconds, 3),
        "nuclei": nuclei,
        "positive": positive,
        "index": round(positive / nuclei, 4) if nuclei else float("nan"),
        "outside_regions": int(counts[0, 0]),
        "regions": summaries,
        "geojson": os.path.basename(geo_path),
        "nuclei_csv": os.path.basename(csv_path),
        "preview": "ki67_preview.png",
    }


def _nuclei(window, threshold):
    """The nuclei `window` owns, scored; size limits from level 0 to the window's level."""
    ds = window.downsample
    result = ki67.ki67_index(
        window.rgb,
        threshold=threshold,
        min_area=max(2, int(round(ki67.MIN_AREA / ds**2))),
        max_area=int(round(ki67.MAX_AREA / ds**2)),
        min_distance=max(1, int(round(ki67.MIN_DISTANCE / ds))),
    )
    if not result.total:
        return
    index = np.arange(1, result.total + 1)
    haematoxylin = ndimage.mean(ki67.hdab_density(window.rgb)[..., 0], result.labels, index)
    for prop in measure.regionprops(result.labels):
        row, col = prop.centroid
        if not window.owns(row, col):
            continue
        top, left = prop.bbox[:2]
        x, y = window.to_level0(row, col)
        dab = float(result.dab_means[prop.label - 1])
        yield {
            "x": round(x, 2),
            "y": round(y, 2),
            "area": round(prop.area * ds**2, 1),
            "dab": round(dab, 4),
            "haematoxylin": round(float(haematoxylin[prop.label - 1]), 4),
            "positive": dab >= threshold,
            "outline": geojson.ring(prop.image, x=window.x + left, y=window.y + top, downsample=ds),
        }


def _detection(nucleus) -> dict:
    return geojson.feature(
        geojson.polygon(nucleus["outline"]),
        "detection",
        geojson.POSITIVE if nucleus["positive"] else geojson.NEGATIVE,
        {
            "Nucleus: Area px^2": nucleus["area"],
            "Nucleus: DAB OD mean": nucleus["dab"],
            "Nucleus: Hematoxylin OD mean": nucleus["haematoxylin"],
        },
    )


def _qupath_counts(counts) -> dict:
    nuclei, positive = (int(v) for v in counts)
    return {
        "Num Detections": nuclei,
        "Num Positive": positive,
        "Num Negative": nuclei - positive,
        "Positive %": 100.0 * positive / nuclei if nuclei else float("nan"),
    }


def _regions(regions, count, counts, scale) -> list[dict]:
    """Each tissue region's summary, with its QuPath annotation under "feature"."""
    summaries = []
    for region in range(1, count + 1):
        inside = regions == region
        nuclei, positive = (int(v) for v in counts[region])
        summaries.append(
            {
                "region": region,
                "nuclei": nuclei,
                "positive": positive,
                "index": round(positive / nuclei, 4) if nuclei else float("nan"),
                "area_px": int(round(inside.sum() / (scale[0] * scale[1]))),
                "feature": geojson.feature(
                    analysis_tiles.region_polygon(regions, region, scale),
                    "annotation",
                    measurements=_qupath_counts(counts[region]),
                    name=f"Tissue region {region}",
                ),
            }
        )
    return summaries
