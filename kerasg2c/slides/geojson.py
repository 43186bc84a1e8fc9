"""GeoJSON FeatureCollections that QuPath imports as its own objects (importObjectsFromFile).

The conventions are QuPath's (its documentation, "Exporting annotations": "Units and
origin", and its GeoJSON reader and writer, `PathObjectTypeAdapters` in qupath-core, v0.4
and later):

- coordinates are pixels of the full-resolution image (level 0), origin at the top-left
  corner of the image, x to the right and y down; a pixel (row r, column c) covers
  [c, c + 1] × [r, r + 1], so its centre is (c + 0.5, r + 0.5). Whatever level an
  analysis ran at, `ring` scales its outlines back to level 0;
- each feature carries a UUID `id` and `properties.objectType`: `detection`, `tile`,
  `annotation` (or `cell`); an object without it is imported as an annotation;
- `properties.classification` is `{"name": ..., "color": [r, g, b]}`, and QuPath's own
  classes keep their names and colours here (`POSITIVE`, `NEGATIVE`, `TUMOR`, ...);
- `properties.measurements` maps a name to a number (QuPath also reads the older list of
  `{"name", "value"}`). JSON has no NaN, so a measurement that is not finite is left out.

Geometry follows RFC 7946 §3.1.6: every ring is closed (its last position repeats the
first) and the exterior ring is counterclockwise in the numbers written (positive shoelace
area in (x, y)). Outlines come from scikit-image's marching squares on one object's mask
and are thinned by Douglas–Peucker (`skimage.measure.approximate_polygon`); the outline of
one 4-connected blob is a simple polygon.

`FeatureWriter` streams features to disk, so a slide with a million nuclei never holds
them in memory; the file appears under its name only when complete.

Examples:

    with geojson.FeatureWriter("slide.geojson") as out:
        out.add(geojson.feature(geojson.box(0, 0, 512, 512), "tile",
                                geojson.TUMOR, {"Tumour probability": 0.93}))
"""

import json
import math
import os
import uuid

import numpy as np
from scipy import ndimage
from skimage import measure

# QuPath's own classes (qupath-core: PathClass.StandardPathClasses and the Positive and
# Negative intensity classes): name and default colour.
POSITIVE = ("Positive", (200, 50, 50))
NEGATIVE = ("Negative", (90, 90, 180))
TUMOR = ("Tumor", (200, 0, 0))
STROMA = ("Stroma", (150, 200, 150))
OBJECT_TYPES = ("detection", "tile", "annotation", "cell")


def ring(mask, *, x=0.0, y=0.0, downsample=1.0, tolerance=0.5) -> list[list[float]]:
    """The closed, counterclockwise outline of the largest blob of `mask`, in level 0.

    Args:
      mask: bool [h, w], one object's pixels at the analysis level.
      x, y: where `mask`'s pixel (0, 0) lies at the analysis level.
      downsample: level-0 pixels per analysis-level pixel.
      tolerance: Douglas–Peucker tolerance in analysis-level pixels (0 keeps every
        marching-squares vertex).

    Returns:
      [[x0, y0], ..., [x0, y0]] in level-0 pixels, at least 4 positions.
    """
    mask = np.asarray(mask, bool)
    labels, count = ndimage.label(mask)
    if count == 0:
        raise ValueError("ring: the mask holds no pixel")
    if count > 1:
        mask = labels == np.argmax(np.bincount(labels.ravel())[1:]) + 1
    contours = measure.find_contours(np.pad(mask, 1).astype(np.uint8), 0.5)
    contour = max(contours, key=len)
    if tolerance > 0:
        thinned = measure.approximate_polygon(contour, tolerance)
        contour = thinned if len(thinned) >= 4 else contour
    # Padded (row, col) → level pixels: minus the pad, plus 0.5 to pixel-corner coordinates.
    xs = (contour[:, 1] - 1 + 0.5 + x) * downsample
    ys = (contour[:, 0] - 1 + 0.5 + y) * downsample
    points = np.stack([xs, ys], axis=1)
    if _signed_area(points) < 0:
        points = points[::-1]
    points = [[round(float(a), 2), round(float(b), 2)] for a, b in points]
    if points[0] != points[-1]:
        points.append(points[0])
    return points


def box(x, y, width, height) -> dict:
    """A rectangle in level-0 pixels as a GeoJSON Polygon (counterclockwise, closed)."""
    corners = [[x, y], [x, y + height], [x + width, y + height], [x + width, y], [x, y]]
    corners = [[float(a), float(b)] for a, b in corners]
    if _signed_area(np.array(corners)) < 0:
        corners = corners[::-1]
    return {"type": "Polygon", "coordinates": [corners]}


def polygon(exterior) -> dict:
    """A GeoJSON Polygon from one closed exterior ring (see `ring`)."""
    return {"type": "Polygon", "coordinates": [exterior]}


def feature(geometry, object_type, classification=None, measurements=None, name=None) -> dict:
    """One QuPath object as a GeoJSON Feature.

    Args:
      geometry: a GeoJSON geometry in level-0 pixels (`polygon`, `box`).
      object_type: one of `OBJECT_TYPES`.
      classification: (name, (r, g, b)) such as `POSITIVE`, or None.
      measurements: name → number; entries that are not finite numbers are left out.
      name: the object's name in QuPath, or None.
    """
    if object_type not in OBJECT_TYPES:
        raise ValueError(f"object_type must be one of {OBJECT_TYPES}, got {object_type!r}")
    properties = {"objectType": object_type}
    if name is not None:
        properties["name"] = str(name)
    if classification is not None:
        class_name, color = classification
        properties["classification"] = {"name": class_name, "color": [int(c) for c in color]}
    if measurements:
        finite = {k: float(v) for k, v in measurements.items() if math.isfinite(float(v))}
        if finite:
            properties["measurements"] = finite
    return {
        "type": "Feature",
        "id": str(uuid.uuid4()),
        "geometry": geometry,
        "properties": properties,
    }


class FeatureWriter:
    """Writes a FeatureCollection feature by feature to `path`.

    The features go to `path + ".partial"`, which becomes `path` on a clean exit from the
    `with` block and is removed when the block raises.

    Args:
      path: the `.geojson` file to write.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.count = 0
        self._file = None

    def __enter__(self):
        self._file = open(self.path + ".partial", "w")
        self._file.write('{"type": "FeatureCollection", "features": [\n')
        return self

    def add(self, one: dict) -> None:
        """Appends one feature (see `feature`)."""
        if self.count:
            self._file.write(",\n")
        self._file.write(json.dumps(one, allow_nan=False, separators=(",", ":")))
        self.count += 1

    def __exit__(self, kind, value, traceback):
        partial = self.path + ".partial"
        if kind is not None:
            self._file.close()
            os.remove(partial)
            return False
        self._file.write("\n]}\n")
        self._file.close()
        os.replace(partial, self.path)
        return False


def _signed_area(points) -> float:
    """Shoelace area of a ring of (x, y) positions; > 0 when counterclockwise in (x, y)."""
    x, y = np.asarray(points, np.float64).T
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
