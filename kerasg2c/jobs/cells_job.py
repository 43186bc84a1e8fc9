"""The cells job (`python -m trainers.cells`): tiles → nuclei → cell clusters → per-tile
cell proportions → image-level classification (Hu et al., §III and §IV-E).

1. Tiles: a DATA_ROOT of tiles (`labeled/<split>/<label>/`, e.g. normal / abnormal), or
   with an empty `data.root` the tile phantoms of `kerasg2c.phantoms.cells`
   (`write_phantoms`, sized by `data.phantoms.*`) written into `workdir/data`, which also
   hold each tile's instance mask (`masks/<split>/<label>/<name>.png`) and true type
   counts (`counts/<split>.csv`). Every tile of the splits in `cells.splits` is used.
2. A trained InfoWGAN-GP: `cells.infogan_run` (an infogan run folder with `model.keras`),
   or, when empty, the `infogan_stage` (configs/infowgan.py's keys) trained into
   `workdir/infogan/` first: with `cells.stage_cells = "tiles"` (the paper's, §IV-E) on
   the nucleus crops of the tiles (`tile_crops.write_stage_data`, step 3's segmentation,
   written to `workdir/infogan/data`; it trains on the training tiles' crops and scores
   its clustering on the test tiles' crops whose type the masks give), with "own" on its
   own data (its `data.root`, or cell phantoms when empty).
3. Nuclei: `pathology.nuclei.segment_tile` per tile (Reinhard in lαβ to
   `cells.reinhard_mean/std`, or to `cells.reinhard_target`'s statistics, when set;
   Macenko with `cells.min_magnitude`, `cells.angle_percentile`; `cells.threshold`,
   `cells.min_area`, `cells.protrusion_width`, `cells.opening_size`), crops of the model's
   image size; each crop's cluster is argmax Q(c | x).
4. Per tile, the cell proportions P_i = X_i / Σ X_i over the k clusters (a tile without
   nuclei: all zeros); `image_level_report` (k-means and a linear SVM under
   `cells.cv_folds`-fold stratified cross-validation, Table IV) and `proportions_pca.png`
   (Fig. 10). With the phantoms' true counts, the same report on the true type
   proportions ("true_types": what a perfect segmentation and clustering would reach).
5. With masks, the segmentation against them: foreground IoU and object / pixel
   precision, recall and F-score (50 % overlap), averaged over tiles.

Writes `proportions.csv` (tile, split, label, n_cells, one proportion per cluster),
`proportions_pca.png` and `report.json` (its "stage": what the stage trained on, its crop
counts, its clustering score or why it is not scored). Runs on the chief; other workers
only train the stage with it.
"""

import csv
import os
import time

import keras
import numpy as np
from absl import logging
from PIL import Image

from kerasg2c.data import layout
from kerasg2c.errors import UserError
from kerasg2c.evaluation import image_level as image_eval
from kerasg2c.jobs import infowgan_job, reporting, shared_config, tile_crops
from kerasg2c.pathology import segmentation_metrics
from kerasg2c.phantoms import cell_shapes
from kerasg2c.phantoms import cells as cell_phantoms

SPLITS = ("train", "val", "test")
STAGE_CELLS = ("tiles", "own")  # what the InfoWGAN-GP stage trains on (cells.stage_cells)
_LOG_EVERY = 10  # tiles between progress lines


def check(config) -> None:
    """Refuses bad values of the shared keys, the `cells.*` keys and (when it is trained
    here) the InfoWGAN-GP stage's, naming the key."""
    shared_config.check_shared(config)
    c = "cells."
    shared_config.require_positive(
        config, c + "min_area", c + "svm_c", c + "threshold", c + "min_magnitude"
    )
    shared_config.require_positive(
        config, c + "protrusion_width", c + "opening_size", c + "angle_percentile", allow_zero=True
    )
    if not config.cells.angle_percentile < 50:
        raise UserError(
            f"config key {c}angle_percentile={config.cells.angle_percentile!r}: expected [0, 50)"
        )
    mean, std = tuple(config.cells.reinhard_mean), tuple(config.cells.reinhard_std)
    if len(mean) != len(std) or len(mean) not in (0, 3):
        raise UserError(
            f"config key {c}reinhard_mean / {c}reinhard_std: expected both empty or both "
            f"3 lαβ values, got {mean!r} / {std!r}"
        )
    if mean and config.cells.reinhard_target:
        raise UserError(f"config key {c}reinhard_target: give it or {c}reinhard_mean, not both")
    folds = config.cells.cv_folds
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise UserError(f"config key {c}cv_folds={folds!r}: expected an integer ≥ 2")
    if not 0 < config.cells.threshold <= 255:
        raise UserError(f"config key {c}threshold={config.cells.threshold!r}: expected (0, 255]")
    wanted = split_names(config)
    if not wanted or any(s not in SPLITS for s in wanted):
        raise UserError(f"config key {c}splits={config.cells.splits!r}: expected some of {SPLITS}")
    if config.data.tfds:
        raise UserError("config key data.tfds: the cells job reads tiles from files (data.root)")
    target = config.cells.reinhard_target
    if target and not os.path.isfile(target):
        raise UserError(f"config key {c}reinhard_target: no such file {target!r}")
    run = config.cells.infogan_run
    if run and not os.path.isfile(os.path.join(run, "model.keras")):
        raise UserError(f"config key {c}infogan_run: no model.keras in {run!r}")
    if config.cells.stage_cells not in STAGE_CELLS:
        raise UserError(
            f"config key {c}stage_cells={config.cells.stage_cells!r}: expected one of {STAGE_CELLS}"
        )
    if not run:
        infowgan_job.check(config, prefix="infogan_stage.")
        if config.cells.stage_cells == "tiles" and config.infogan_stage.data.root:
            raise UserError(
                f"config key infogan_stage.data.root: the stage trains on the tiles' crops "
                f"({c}stage_cells='tiles'); set {c}stage_cells='own' to use it"
            )


def split_names(config) -> list[str]:
    return [s.strip() for s in config.cells.splits.split(",") if s.strip()]


def write_phantoms(root, config) -> None:
    """Tile phantoms (`cell_phantoms.write_tiles`) as this job's DATA_ROOT when `data.root`
    is empty: `data.phantoms.n_train/n_val/n_test` tiles of side `data.phantoms.size`."""
    p = config.data.phantoms
    cell_phantoms.write_tiles(
        root, n_train=p.n_train, n_val=p.n_val, n_test=p.n_test, seed=config.seed, size=p.size
    )


def infogan_model(config, context):
    """The trained InfoWGAN-GP of step 2 (trained here first when needed) and its folder."""
    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)

    given = config.cells.infogan_run
    folder = given or os.path.join(context.workdir, "infogan")
    path = os.path.join(folder, "model.keras")
    if not given and not os.path.exists(path):
        stage = config.infogan_stage
        stage.workdir, stage.seed = folder, config.seed
        write = infowgan_job.write_phantoms  # "own": its data.root, or cell phantoms
        if config.cells.stage_cells == "tiles":  # the paper's (§IV-E): the tiles' crops
            tiles, classes = list_tiles(context.data_root, SPLITS, "cells.stage_cells")

            def write(root, _):
                size = stage.data.image_size
                tile_crops.write_stage_data(root, config, context.data_root, tiles, classes, size)

        with context.stage(stage, write_phantoms=write) as stage_context:
            infowgan_job.train_and_evaluate(stage, stage_context)
    if not context.chief:
        return None, folder
    if not os.path.exists(path):
        raise UserError(f"config key cells.infogan_run: no model.keras in {folder!r}")
    return keras.saving.load_model(path, compile=False), folder


def list_tiles(root, wanted, key="cells.splits") -> tuple[list[dict], tuple]:
    """(every tile of the `wanted` splits as {"path", "split", "label", "name", "mask"
    (its instance mask path or None)}, the DATA_ROOT's classes); a missing split names
    `key`."""
    classes = layout.read_dataset_info(root).classes
    tiles = []
    for split in wanted:
        if not os.path.isdir(os.path.join(root, "labeled", split)):
            raise UserError(f"{root}: no labeled/{split} folder of tiles (config key {key})")
        paths, labels, _ = layout.list_labeled(root, split, classes)
        for path, label in zip(paths, labels):
            rel = os.path.relpath(path, os.path.join(root, "labeled"))
            mask = os.path.join(root, "masks", rel)
            tiles.append(
                {
                    "path": path,
                    "split": split,
                    "label": int(label),
                    "name": rel,
                    "mask": mask if os.path.isfile(mask) else None,
                }
            )
    if not tiles:
        raise UserError(f"{root}: no tiles in labeled/{{{','.join(wanted)}}}")
    return tiles, classes


def true_type_counts(root, tiles) -> np.ndarray | None:
    """[tiles, types] true cell counts from `counts/<split>.csv` (the phantoms'), or None
    when a tile has no row there."""
    rows = {}
    for split in {t["split"] for t in tiles}:
        path = os.path.join(root, "counts", f"{split}.csv")
        if not os.path.isfile(path):
            return None
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                rows[row["file"]] = [int(row[t]) for t in cell_shapes.TYPES]
    names = [t["name"].replace(os.sep, "/") for t in tiles]
    if any(n not in rows for n in names):
        return None
    return np.asarray([rows[n] for n in names], np.float64)


def proportions_of(counts) -> np.ndarray:
    """Rows of counts → proportions (a row without cells stays zero)."""
    counts = np.asarray(counts, np.float64)
    total = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)


def segment_and_cluster(config, model, tiles) -> tuple[np.ndarray, dict | None]:
    """Steps 3 and 5: per tile cluster counts [tiles, k]; the mean segmentation scores
    over the tiles that have masks (None without masks)."""
    k, size = model.categories, model.image_size
    counts = np.zeros((len(tiles), k), np.int64)
    scores = []
    target = tile_crops.reinhard_target(config)
    started, n_cells = time.perf_counter(), 0
    for n, tile in enumerate(tiles):
        rgb = np.asarray(Image.open(tile["path"]).convert("RGB"))
        found = tile_crops.segment(config, rgb, size, target)
        if len(found):
            clusters = infowgan_job.assign(model, infowgan_job.cell_inputs(found.crops))
            counts[n] = np.bincount(clusters, minlength=k)
        n_cells += len(found)
        if tile["mask"]:
            mask = np.asarray(Image.open(tile["mask"])).astype(np.int64)
            scores.append(segmentation_metrics.segmentation_scores(mask, found.labels))
        if (n + 1) % _LOG_EVERY == 0 or n + 1 == len(tiles):
            seconds = time.perf_counter() - started
            logging.info(
                "segmented %d/%d tiles, %d nuclei (%.2f tiles/s)",
                n + 1,
                len(tiles),
                n_cells,
                (n + 1) / max(seconds, 1e-9),
            )
    if not scores:
        return counts, None
    fields = ("iou", "object_precision", "object_recall", "object_f_score")
    fields += ("pixel_precision", "pixel_recall", "pixel_f_score")
    summary = {f: float(np.mean([getattr(s, f) for s in scores])) for f in fields}
    summary |= {
        "tiles": len(scores),
        "n_true": int(sum(s.n_true for s in scores)),
        "n_pred": int(sum(s.n_pred for s in scores)),
        "n_matched": int(sum(s.n_matched for s in scores)),
    }
    return counts, summary


def write_proportions(path, tiles, counts, proportions, classes) -> None:
    k = proportions.shape[1]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["tile", "split", "label", "n_cells", *(f"cluster_{c}" for c in range(k))])
        for tile, row, share in zip(tiles, counts, proportions):
            writer.writerow(
                [tile["name"], tile["split"], classes[tile["label"]], int(row.sum()),
                 *(f"{x:.6f}" for x in share)]
            )  # fmt: skip


def train_and_evaluate(config, context) -> dict:
    """Steps 1–5, then `report.json`."""
    keras.utils.set_random_seed(config.seed)
    model, run = infogan_model(config, context)
    if not context.chief:
        return {}
    tiles, classes = list_tiles(context.data_root, split_names(config))
    logging.info("%d tiles from %s; clusters from %s", len(tiles), context.data_root, run)
    counts, segmentation = segment_and_cluster(config, model, tiles)
    proportions = proportions_of(counts)
    labels = np.asarray([t["label"] for t in tiles])
    workdir = context.workdir
    write_proportions(os.path.join(workdir, "proportions.csv"), tiles, counts, proportions, classes)
    c = config.cells
    names = dict(enumerate(classes))
    image_level = {
        "infowgan_q": image_eval.image_level_report(
            proportions, labels, seed=config.seed, n_splits=c.cv_folds, C=c.svm_c
        )
    }
    true_counts = true_type_counts(context.data_root, tiles)
    if true_counts is not None:
        image_level["true_types"] = image_eval.image_level_report(
            proportions_of(true_counts), labels, seed=config.seed, n_splits=c.cv_folds, C=c.svm_c
        )
    image_eval.plot_proportions_pca(
        proportions, labels, os.path.join(workdir, "proportions_pca.png"), class_names=names
    )
    report = {
        "trainer": "cells",
        "classes": list(classes),
        "infogan_run": os.path.abspath(run),
        "tiles": {s: sum(t["split"] == s for t in tiles) for s in split_names(config)},
        "cells": {"total": int(counts.sum()), "per_cluster": counts.sum(axis=0).tolist()},
        "tiles_without_cells": int(np.sum(counts.sum(axis=1) == 0)),
        "image_level": image_level,
        "segmentation": segmentation,
        "stage": tile_crops.stage_summary(config, run),
        "figures": ["proportions_pca.png"],
    }
    reporting.write_report(workdir, report)
    return report
