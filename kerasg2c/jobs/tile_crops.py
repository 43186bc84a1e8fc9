"""Nucleus crops of the cells job's tiles, and the InfoWGAN-GP stage's data cut from them.

The InfoWGAN-GP paper (Hu et al., §IV-E) trains the GAN of its image-level experiment "on
the segmentation output of the training set". With `cells.stage_cells = "tiles"` the cells
job does the same: `write_stage_data` segments the tiles of each split with `segment` (the
one segmentation of the job, the `cells.*` keys) and writes every crop (`nuclei.fit_crop`'s
output, lossless PNG) as a DATA_ROOT of single cells, `labeled/<split>/<type>/`, which the
InfoWGAN-GP stage reads like any other (`infowgan_job.cell_split`): it trains on
`labeled/train` (the training tiles' crops) and clusters `labeled/test`.

A crop's type is known when its tile has an instance mask (`masks/...`) and per-instance
types (the phantoms' `counts/<split>.csv`, column `instance_types`): a crop matched to a
true nucleus under the segmentation scores' 50 % overlap rule
(`segmentation_metrics.match_nuclei`) takes that nucleus's type; every other crop (a
merge's extra part, a false nucleus, a tile without types) goes to the class folder
`UNKNOWN`, trained on but not scored (`infowgan_evaluation.evaluate`). Tiles without types at all
(a user's own) give only `UNKNOWN` crops: the stage trains and its report says the
clustering is not scored.
"""

import csv
import json
import os

import numpy as np
from PIL import Image

from kerasg2c.data import layout
from kerasg2c.errors import UserError
from kerasg2c.jobs.infowgan_evaluation import UNKNOWN
from kerasg2c.pathology import nuclei, segmentation_metrics, stain
from kerasg2c.phantoms import cell_shapes


def reinhard_target(config):
    """The Reinhard target of the `cells.*` keys: None (off), a (mean, std) pair or an
    RGB image."""
    c = config.cells
    if c.reinhard_target:
        return np.asarray(Image.open(c.reinhard_target).convert("RGB"))
    return (tuple(c.reinhard_mean), tuple(c.reinhard_std)) if c.reinhard_mean else None


def segment(config, rgb, size: int, target=None) -> nuclei.Nuclei:
    """`nuclei.segment_tile` of one uint8 RGB tile with the `cells.*` keys and crops of side
    `size`; `target` is `reinhard_target(config)` (read once per job)."""
    c = config.cells
    return nuclei.segment_tile(
        rgb,
        reinhard_target=target,
        beta=c.min_magnitude / stain.SDA_PER_OD,
        alpha=c.angle_percentile,
        threshold=c.threshold,
        min_area=c.min_area,
        protrusion_width=c.protrusion_width,
        opening_size=c.opening_size,
        size=size,
    )


def instance_types(root, tiles) -> dict:
    """{tile name: tuple of each mask instance's type} from `counts/<split>.csv`'s
    `instance_types` column, for the tiles that have one (the phantoms')."""
    known = {}
    for split in sorted({t["split"] for t in tiles}):
        path = os.path.join(root, "counts", f"{split}.csv")
        if not os.path.isfile(path):
            continue
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("instance_types"):
                    known[row["file"]] = tuple(row["instance_types"].split(","))
    return known


def crop_types(found, mask, types) -> list[str]:
    """Each crop's type: that of the true instance it matches (50 % overlap rule), else
    `UNKNOWN`; all `UNKNOWN` without a mask or types."""
    out = [UNKNOWN] * len(found)
    if mask is None or types is None:
        return out
    for true, pred in segmentation_metrics.match_nuclei(mask, found.labels):
        if 0 < true <= len(types):
            out[pred - 1] = types[true - 1]
    return out


def write_stage_data(out, config, root, tiles, classes, size: int) -> dict:
    """Segments `tiles` (`cells_job.list_tiles`'s dicts) and writes their crops as a
    DATA_ROOT of single cells in `out`: `labeled/<split>/<type>/<patient>__<tile label>_
    <tile stem>_<n>.png` (the tile's patient kept), and a dataset.json whose classes are
    the phantoms' types and `UNKNOWN` (or `UNKNOWN` alone when no type is known).

    Args:
      out: the folder to write.
      config: the cells job's config (`cells.*` segmentation keys).
      root: the tiles' DATA_ROOT (for `counts/`).
      tiles: the tiles, each with "path", "split", "label", "name", "mask".
      classes: the tiles' class names (tile labels index them).
      size: crop side (the stage's `data.image_size`).

    Returns:
      {"crops": {split: n}, "typed": {split: n}} (crops of a known type).

    Raises:
      UserError: a split's tiles gave no nucleus (the stage needs cells in each split).
    """
    known = instance_types(root, tiles)
    target = reinhard_target(config)
    summary = {"crops": {}, "typed": {}}
    for tile in tiles:
        rgb = np.asarray(Image.open(tile["path"]).convert("RGB"))
        found = segment(config, rgb, size, target)
        mask = np.asarray(Image.open(tile["mask"])).astype(np.int64) if tile["mask"] else None
        types = crop_types(found, mask, known.get(tile["name"].replace(os.sep, "/")))
        stem = os.path.splitext(os.path.basename(tile["path"]))[0]
        prefix = f"{layout.patient_id(tile['path'])}__{classes[tile['label']]}_{stem}"
        split = tile["split"]
        for n, (crop, kind) in enumerate(zip(found.crops, types)):
            folder = os.path.join(out, "labeled", split, kind)
            os.makedirs(folder, exist_ok=True)
            Image.fromarray(crop).save(os.path.join(folder, f"{prefix}_{n:03d}.png"))
        summary["crops"][split] = summary["crops"].get(split, 0) + len(found)
        typed = sum(t != UNKNOWN for t in types)
        summary["typed"][split] = summary["typed"].get(split, 0) + typed
    empty = sorted({t["split"] for t in tiles} - {s for s, n in summary["crops"].items() if n})
    if empty:
        raise UserError(
            f"config key cells.stage_cells='tiles': no nucleus found in the {empty[0]} tiles "
            "(the InfoWGAN-GP stage needs crops in every split)"
        )
    any_typed = any(summary["typed"].values())
    names = [*cell_shapes.TYPES, UNKNOWN] if any_typed else [UNKNOWN]
    with open(os.path.join(out, "dataset.json"), "w") as f:
        json.dump({"classes": names}, f, indent=1)
    with open(os.path.join(out, "crops.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def stage_summary(config, folder) -> dict | None:
    """The cells report's "stage": what the InfoWGAN-GP stage in `folder` trained on
    (`cells.stage_cells`; with "tiles" the crop counts of `write_stage_data`) and its
    clustering score on its test cells, or why it is not scored (None when
    `cells.infogan_run` was given)."""
    if config.cells.infogan_run:
        return None
    summary = {"cells": config.cells.stage_cells}
    crops = os.path.join(folder, "data", "crops.json")
    if config.cells.stage_cells == "tiles" and os.path.isfile(crops):
        with open(crops) as f:
            summary |= json.load(f)
    with open(os.path.join(folder, "report.json")) as f:
        stage = json.load(f)
    scores = stage.get("clustering", {})
    summary["clustering"] = scores.get("infowgan_q") or scores.get("note")
    return summary
