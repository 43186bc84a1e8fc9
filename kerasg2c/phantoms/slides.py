"""Synthetic whole slides: tissue islands on glass, one layout rendered in four stains.

A coarse island map (1/16 of the slide, `MASK_DOWNSAMPLE`) says where tissue is; inside it,
`slide_tissue.concentrations` draws kidney-cortex-like tissue (tubules, interstitium,
now and then a glomerulus), a pure function of (seed, its coordinates) and the island map,
so the slide is rendered tile by tile in bounded memory and the four stains share their
geometry exactly. Each stain is rendered like `glomeruli.render` (Beer–Lambert optical
density, blur, noise) with one stain-intensity jitter for the whole slide.
`write_slides` writes `PAS.tif` (the input slide) and `HE.tif`, `MASSON.tif`, `PASM.tif`
(its true renderings) as pyramids, `tissue_mask.png` and `slide.json`.

    python -m kerasg2c.phantoms.slides --out=/tmp/slide --width=4096 --height=4096

Examples:

    kerasg2c slide-phantoms --out=data/slide --width=4096 --height=4096 --preview=data/slide.png
"""

import dataclasses
import json
import pathlib
import time

import numpy as np
from absl import app, flags, logging
from PIL import Image
from scipy import ndimage
from skimage import morphology

from kerasg2c.phantoms import cli, glomeruli, glomerulus_layout
from kerasg2c.phantoms.slide_tissue import (
    _ISLANDS,
    _MARGIN,
    _NOISE,
    _STAIN,
    MASK_DOWNSAMPLE,
    concentrations,
)
from kerasg2c.slides import pyramid, reader

TILE_SIZE = 256


@dataclasses.dataclass(frozen=True)
class SlidePlan:
    """What every region of one phantom slide is computed from."""

    seed: int
    height: int
    width: int
    islands: np.ndarray  # float32 at 1/MASK_DOWNSAMPLE; tissue where > 0.5
    absorption: dict  # stain -> [4, 3] jittered OD of a unit layer of each component
    glass: dict  # stain -> [3] OD of the empty slide
    blur: dict  # stain -> Gaussian sigma in pixels
    noise: dict  # stain -> noise standard deviation in grey levels

    @property
    def tissue_mask(self) -> np.ndarray:
        """The true tissue mask at 1/MASK_DOWNSAMPLE (pixel (i, j) is level-0 pixel
        (16 i, 16 j))."""
        return self.islands > 0.5


def make_plan(seed, height, width) -> SlidePlan:
    """The island map and the per-stain jitter of the slide of `seed`."""
    rows, cols = -(-height // MASK_DOWNSAMPLE), -(-width // MASK_DOWNSAMPLE)
    absorption, glass, blur, noise = {}, {}, {}, {}
    k = len(glomeruli._COMPONENTS)
    for s, stain in enumerate(glomeruli.STAINS):
        rng = glomeruli._rng(seed, _STAIN, s)
        jitter = rng.uniform(0.85, 1.15, k) * rng.uniform(0.9, 1.1)
        unit = glomeruli._OD[stain]
        absorption[stain] = (jitter[:, None] * unit[:k] * rng.normal(1.0, 0.03, (k, 3))).astype(
            np.float32
        )
        glass[stain] = unit[k]
        blur[stain] = float(rng.uniform(0.3, 0.7))
        noise[stain] = float(rng.uniform(1.0, 4.0))
    islands = _islands(glomeruli._rng(seed, _ISLANDS), rows, cols)
    return SlidePlan(seed, height, width, islands, absorption, glass, blur, noise)


def _islands(rng, rows, cols):
    """A few irregular blobs covering 30–45 % of a rows x cols map, smoothed to [0, 1]."""
    side = max(rows, cols)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32) / side
    field = np.full((rows, cols), -np.inf, np.float32)
    for _ in range(rng.integers(3, 7)):
        dy = yy - rng.uniform(0.2, 0.8) * rows / side
        dx = xx - rng.uniform(0.2, 0.8) * cols / side
        theta = np.arctan2(dy, dx)
        wobble = 1 + sum(
            rng.uniform(0, 0.15) * np.cos(n * theta + rng.uniform(0, 2 * np.pi)) for n in (2, 3, 5)
        )
        field = np.maximum(field, 1 - np.hypot(dy, dx) / (rng.uniform(0.12, 0.25) * wobble))
    field += 0.3 * glomerulus_layout._smooth_noise(rng, side, 0.04 * side)[:rows, :cols]
    tissue = field > np.quantile(field, 1 - rng.uniform(0.3, 0.45))
    tissue = morphology.remove_small_objects(tissue, max_size=max(4, side**2 // 2000))
    tissue = morphology.remove_small_holes(tissue, max_size=max(4, side**2 // 2000))
    return ndimage.gaussian_filter(tissue.astype(np.float32), 1.0)


def render_region(plan, stain, y, x, height, width) -> np.ndarray:
    """RGB uint8 [height, width, 3] of the slide in `stain` from level-0 pixel (y, x)."""
    m = _MARGIN
    conc = concentrations(plan, y - m, x - m, height + 2 * m, width + 2 * m)
    od = conc @ plan.absorption[stain] + plan.glass[stain]
    rgb = glomeruli.I0 * np.exp(-od)
    sigma = plan.blur[stain]
    rgb = ndimage.gaussian_filter(rgb, sigma=(sigma, sigma, 0))[m:-m, m:-m]
    rng = glomeruli._rng(plan.seed, _NOISE, glomeruli.STAINS.index(stain), y, x)
    rgb += rng.normal(0.0, plan.noise[stain], rgb.shape).astype(np.float32)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def write_slides(out, *, height, width, seed=0, progress=None) -> dict:
    """Writes the four stain pyramids, `tissue_mask.png` and `slide.json` under `out`.

    Equal arguments give byte-identical files. Returns what `slide.json` holds.
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = make_plan(seed, height, width)
    for stain in glomeruli.STAINS:

        def read_tile(row, col, stain=stain):
            y, x = row * TILE_SIZE, col * TILE_SIZE
            size = (min(TILE_SIZE, height - y), min(TILE_SIZE, width - x))
            return render_region(plan, stain, y, x, *size)

        started = time.perf_counter()
        pyramid.write_pyramid(
            out / f"{stain}.tif", read_tile, height, width, tile_size=TILE_SIZE, progress=progress
        )
        logging.info("slide phantoms: %s.tif in %.1f s", stain, time.perf_counter() - started)
    Image.fromarray(plan.tissue_mask.astype(np.uint8) * 255).save(out / "tissue_mask.png")
    meta = {
        "generator": "kerasg2c.data.slide_phantoms",
        "seed": seed,
        "width": width,
        "height": height,
        "source_stain": glomeruli.SOURCE_STAIN,
        "stains": {stain: f"{stain}.tif" for stain in glomeruli.STAINS},
        "tissue_mask": "tissue_mask.png",
        "mask_downsample": MASK_DOWNSAMPLE,
        "tissue_fraction": round(float(plan.tissue_mask.mean()), 4),
        "tile_size": TILE_SIZE,
    }
    (out / "slide.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def write_preview(out, path, max_size=512):
    """A PNG of the four stains' thumbnails side by side, read back from `out`."""
    thumbnails = []
    for stain in glomeruli.STAINS:
        with reader.open_slide(pathlib.Path(out) / f"{stain}.tif") as slide:
            thumbnail = slide.thumbnail(max_size)
        thumbnails.append(np.pad(thumbnail, ((4, 4), (4, 4), (0, 0)), constant_values=255))
    Image.fromarray(np.concatenate(thumbnails, axis=1)).save(path)


def _define_flags():
    flags.DEFINE_string("out", None, "Folder to write the slides to (the preview reads them).")
    flags.DEFINE_integer("width", 4096, "Slide width in pixels.")
    flags.DEFINE_integer("height", 4096, "Slide height in pixels.")
    flags.DEFINE_integer("seed", 0, "Seed (>= 0); equal seeds give byte-identical slides.")
    flags.DEFINE_string("preview", None, "Optional PNG: the four stains' thumbnails in a row.")


def main(argv):
    del argv
    f = flags.FLAGS
    if f.out is None:
        raise app.UsageError("--out must be given (--preview is drawn from the slides)", exitcode=2)

    def write(out):
        meta = write_slides(out, height=f.height, width=f.width, seed=f.seed)
        return {"width": f.width, "height": f.height, "tissue_fraction": meta["tissue_fraction"]}

    cli.write_and_preview(
        "slide phantoms", f.out, f.preview, write, lambda png: write_preview(f.out, png)
    )


if __name__ == "__main__":
    _define_flags()  # only when run as a program: importing the module defines no flags
    app.run(main)
