"""The top-1 MIL job (`python -m trainers.mil`): a tumour/normal instance classifier
learnt from weakly labelled tiles (the IHC paper, "MIL for Getting Class-Related
Information"; Campanella et al. 2019).

1. Data: tiles under `labeled/<split>/<class>/` (two classes, any names, any order)
   resized to `data.image_size`, or with an empty `data.root` the MIL phantoms of
   `kerasg2c.phantoms.mil_tiles` (`write_phantoms`) written into `workdir/data`; each tile
   is a grid of instances of `mil.instance_size` pixels. The positive (tumour) class is
   declared, never taken from folder or list order: `mil.positive_class`, else
   dataset.json's "positive_class" (`mil.roles`); label 1 is that class.
2. Each epoch (a MIL round) through the one loop: `make_dataset(epoch, 0)` scores every
   training instance with the current model (distributed, inference mode), keeps each
   tile's top-1 instance with the tile's label (`mil.selection`) and trains one pass on
   them (cross-entropy, Adam with weight decay). Tiles stream from their files through
   tf.data (`mil.instances`): training reads only each tile's pick; no split is held in
   memory. The round's picks (tile, instance, label) and all its scores are saved in
   `selection/epoch<NNN>.npz` (per worker), so a run resumed mid-epoch trains on the very
   instances it selected.
3. Every `mil.validate_every` epochs (and after the last) the validation tiles are
   scored (tile score = max instance probability); the best tile AUC (then the lowest
   tile loss) saves `model.keras` and `best.json`.
4. The best model on val and test (chief only): tile-level accuracy / AUC, instance-level
   accuracy / AUC against the true instance labels where the DATA_ROOT has them
   (`instances/<split>.csv`), `heatmap.png` and `report.json`.
"""

import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from sklearn import metrics

from kerasg2c import json_files
from kerasg2c.data import pipeline
from kerasg2c.errors import UserError
from kerasg2c.jobs import reporting, shared_config, splits, train_settings
from kerasg2c.mil import heatmap, instances, selection
from kerasg2c.mil import roles as mil_roles
from kerasg2c.models import branch, stem_resnet
from kerasg2c.models.mil_classifier import MILClassifier
from kerasg2c.phantoms import mil_tiles
from kerasg2c.training import loop, runtime

HEATMAP = "heatmap.png"
BEST = "best.json"


def check(config, prefix: str = "") -> None:
    """Refuses bad values of the shared, `mil.*`, `model.*` and `optimizer.*` keys,
    naming the key; `prefix`: where this config sits in the one given (ki67_eval's
    "mil_stage.")."""
    p = prefix
    shared_config.check_shared(config, p)
    shared_config.require_square(config, "MIL", p)
    shared_config.require_choice(config, p + "model.branch", branch.BRANCHES)
    shared_config.require_positive(
        config, *(p + k for k in ("model.widths", "model.blocks_per_unit", "model.stem_width"))
    )
    widths, blocks = (
        shared_config.value(config, p + k) for k in ("model.widths", "model.blocks_per_unit")
    )
    try:
        stem_resnet.unit_block_counts(widths, blocks)
    except ValueError:
        raise UserError(
            f"config key {p}model.blocks_per_unit={blocks!r}: expected an int or one count "
            f"per unit of {p}model.widths={widths!r}"
        ) from None
    shared_config.require_positive(
        config,
        *(
            p + k
            for k in (
                "mil.instance_size",
                "mil.validate_every",
                "mil.score_batch_size",
                "mil.heatmap_tiles",
                "data.phantoms.instance_size",
                "optimizer.learning_rate",
            )
        ),
    )
    shared_config.require_positive(config, p + "optimizer.weight_decay", allow_zero=True)
    if not isinstance(shared_config.value(config, p + "mil.positive_class"), str):
        raise UserError(f"config key {p}mil.positive_class: expected a class name or ''")
    tfds = shared_config.value(config, p + "data.tfds")
    if tfds:
        raise UserError(
            f"config key {p}data.tfds={tfds!r}: MIL reads its tiles from files; give "
            "data.root (or neither, for phantoms)"
        )
    for tile, instance in (
        ("data.image_size", "mil.instance_size"),
        ("data.phantoms.size", "data.phantoms.instance_size"),
    ):
        tile, instance = p + tile, p + instance
        t, s = shared_config.value(config, tile), shared_config.value(config, instance)
        if t % s:
            raise UserError(f"config key {instance}={s!r}: must divide the tile size {tile}={t!r}")


def write_phantoms(root, config) -> None:
    """MIL phantoms (`mil_tiles.write_tiles`) as this job's DATA_ROOT when `data.root`
    is empty: `data.phantoms.n_*` tiles of side `data.phantoms.size`."""
    p = config.data.phantoms
    mil_tiles.write_tiles(
        root,
        n_train=p.n_train,
        n_val=p.n_val,
        n_test=p.n_test,
        size=p.size,
        instance_size=p.instance_size,
        seed=config.seed,
    )


def build_model(config) -> MILClassifier:
    """The instance classifier of the `model.*` keys, every variable created, with Adam
    (`optimizer.learning_rate`, decoupled `optimizer.weight_decay`)."""
    m, s = config.model, config.mil.instance_size
    model = MILClassifier(
        2,
        instance_size=s,
        branch=m.branch,
        widths=m.widths,
        blocks_per_unit=m.blocks_per_unit,
        stem_width=m.stem_width,
        loss="cross_entropy",
    )
    model(tf.zeros((1, s, s, 3)), training=False)
    o = config.optimizer
    adam = keras.optimizers.Adam(o.learning_rate, weight_decay=o.weight_decay or None)
    model.optimizer = runtime.optimizer_for_precision(adam)
    return model


def tile_metrics(labels, tile_scores) -> dict:
    """Tile-level accuracy (tumour at score ≥ 0.5), ROC AUC (None with one class) and
    cross-entropy of the max-instance probability."""
    labels, p = np.asarray(labels), np.clip(np.asarray(tile_scores, np.float64), 1e-7, 1 - 1e-7)
    return {
        "n": int(len(labels)),
        "accuracy": float(np.mean((p >= 0.5) == (labels == 1))),
        "auc": float(metrics.roc_auc_score(labels, p)) if len(set(labels)) == 2 else None,
        "loss": float(-np.mean(np.where(labels == 1, np.log(p), np.log(1 - p)))),
    }


def instance_metrics(split, root, scores) -> dict | None:
    """Instance-level accuracy / AUC against the true instance labels of `split` (phantoms'
    `instances/<split>.csv`), and how often a tumour tile's top-1 instance is truly tumour;
    None without labels."""
    truth = mil_tiles.read_instance_labels(root, split.name)
    base = os.path.join(root, "labeled")
    grids = [truth.get(os.path.relpath(p, base).replace(os.sep, "/")) for p in split.paths]
    if not truth or any(g is None or g.size != scores.shape[1] for g in grids):
        return None
    labels = np.stack([g.ravel() for g in grids])
    top = selection.top1(scores)
    tumour_tiles = split.labels == 1
    hits = labels[np.arange(len(top)), top][tumour_tiles]
    flat, s = labels.ravel(), scores.ravel()
    return {
        "n": int(flat.size),
        "tumour": int(flat.sum()),
        "accuracy": float(np.mean((s >= 0.5) == flat)),
        "auc": float(metrics.roc_auc_score(flat, s)) if 0 < flat.sum() < flat.size else None,
        "top1_is_tumour": float(hits.mean()) if hits.size else None,
    }


def _better(score, best) -> bool:
    """Higher tile AUC, then lower tile loss."""
    if best is None:
        return True
    key = (score["auc"] if score["auc"] is not None else -1.0, -score["loss"])
    old = (best["auc"] if best["auc"] is not None else -1.0, -best["loss"])
    return key > old


def train_and_evaluate(config, context) -> dict:
    """Steps 1–4, then `report.json`."""
    keras.utils.set_random_seed(config.seed)
    strategy, workdir = context.strategy, context.workdir
    loaded = splits.load_splits(config, context)
    roles = mil_roles.binary_classes(config, context.data_root, loaded["train"].classes)
    loaded = {name: mil_roles.as_binary(split, roles) for name, split in loaded.items()}
    size, s = config.data.image_size, config.mil.instance_size
    tiles = {name: instances.tile_dataset(split, size) for name, split in loaded.items()}
    train = loaded["train"]
    batch, score_batch = config.train.batch_size, config.mil.score_batch_size
    spe = train_settings.steps_per_epoch(
        config,
        len(train),
        "the training split (tiles; one instance each per epoch)",
        repeat=False,  # an epoch is one selection round over the tiles: not repeated
    )
    with strategy.scope():
        model = build_model(config)
    score = instances.Scorer(model, strategy, s, score_batch)
    suffix = "" if context.task_index == 0 else f"_worker{context.task_index}"
    selected = os.path.join(workdir, "selection" + suffix)
    os.makedirs(selected, exist_ok=True)

    def make_dataset(epoch, skip):
        path = os.path.join(selected, f"epoch{epoch + 1:03d}.npz")
        if skip and os.path.exists(path):  # resumed mid-round: the round's own selection
            with np.load(path) as saved:
                rows = saved["rows"]
        else:
            scores = score(tiles["train"])
            rows = selection.training_set(scores, train.labels, config.seed, epoch)
            np.savez(path + ".tmp.npz", rows=rows, scores=scores)
            os.replace(path + ".tmp.npz", path)
        ds = instances.instance_dataset(train.paths, rows, size, s, skip=skip * batch)
        return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    best_path = os.path.join(workdir, BEST)

    def on_epoch_end(epoch):
        last = epoch + 1 == config.train.epochs
        if (epoch + 1) % config.mil.validate_every and not last:
            return {}
        scores = score(tiles["val"])
        result = tile_metrics(loaded["val"].labels, selection.tile_scores(scores))
        if context.chief and _better(result, json_files.read_object(best_path) or None):
            model.save(os.path.join(workdir, "model.keras"))
            json_files.write(best_path, {"epoch": epoch + 1, **result}, indent=1)
        return {f"val_tile_{k}": v for k, v in result.items() if k != "n" and v is not None}

    history = loop.fit(
        model,
        make_dataset,
        strategy=strategy,
        workdir=workdir,
        settings=train_settings.loop_settings(config, spe),
        on_epoch_end=on_epoch_end,
    )
    if not context.chief:
        return {}
    best_model = keras.saving.load_model(os.path.join(workdir, "model.keras"), compile=False)
    score_best = instances.Scorer(best_model, tf.distribute.get_strategy(), s, score_batch)
    results, test_scores = {}, None
    for name in ("val", "test"):
        split = loaded[name]
        scores = score_best(tiles[name])
        results[name] = {
            "tile": tile_metrics(split.labels, selection.tile_scores(scores)),
            "instance": instance_metrics(split, context.data_root, scores),
        }
        test_scores = scores
    _write_heatmap(workdir, loaded["test"], size, test_scores, config.mil.heatmap_tiles)
    report = {
        "trainer": "mil",
        "classes": list(train.classes),  # [negative, positive]: label order of the model
        "positive_class": roles[1],
        "instance_size": s,
        "instances_per_tile": int(test_scores.shape[1]),
        "data": reporting.data_summary(loaded),
        "best": json_files.read_object(best_path),
        "metrics": results,
        "history": history,
        "heatmap": HEATMAP,
    }
    reporting.write_report(workdir, report)
    logging.info(
        "test tile AUC %s, accuracy %.3f", results["test"]["tile"]["auc"],
        results["test"]["tile"]["accuracy"],
    )  # fmt: skip
    return report


def _write_heatmap(workdir, split, size, scores, n) -> None:
    """`heatmap.png`: up to `n` test tiles, tumour and normal alternating, beside their
    instance scores; only those tiles are read."""
    tumour, normal = np.flatnonzero(split.labels == 1), np.flatnonzero(split.labels == 0)
    pick = [i for pair in zip(tumour, normal) for i in pair][:n] or list(range(min(n, len(split))))
    tiles = pipeline.load_images(split.subset(pick), size)
    titles = [f"{split.classes[split.labels[i]]}: {os.path.basename(split.paths[i])}" for i in pick]
    heatmap.save_heatmaps(tiles, scores[pick], titles, os.path.join(workdir, HEATMAP))
