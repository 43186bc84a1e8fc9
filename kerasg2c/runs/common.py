"""What every run does around its model: workdir, log file, data location,
splits, optimiser schedule, report. Trainers compose these with a model."""

import json
import logging as py_logging
import os
import time

import keras
from absl import logging

from kerasg2c.data import layout, phantoms, pipeline
from kerasg2c.training import loop, runtime

SPLITS = ("train", "val", "test")


def prepare_workdir(config, chief: bool) -> str:
    """Creates the workdir, logs to `train.log` in it, saves the config."""
    workdir = os.path.abspath(config.workdir)
    os.makedirs(workdir, exist_ok=True)
    if chief:
        log_file = os.path.join(workdir, "train.log")
        logger = logging.get_absl_logger()
        for handler in [h for h in logger.handlers if isinstance(h, py_logging.FileHandler)]:
            logger.removeHandler(handler)  # an earlier stage's log file
            handler.close()
        handler = py_logging.FileHandler(log_file)
        handler.setFormatter(py_logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(config.to_json_best_effort(indent=1))
    return workdir


def data_root(config, workdir: str, strategy) -> str:
    """The DATA_ROOT to read: `data.root`, or phantoms written into the workdir.

    Each worker writes its own phantom copy (they are deterministic), so
    multi-node runs need no shared file system.
    """
    if config.data.root:
        if not os.path.isdir(config.data.root):
            raise FileNotFoundError(f"config key data.root: no such folder {config.data.root!r}")
        return os.path.abspath(config.data.root)  # reports and CSVs name files absolutely
    index = runtime.task_index(strategy)
    root = os.path.join(workdir, "data" if index == 0 else f"data_worker{index}")
    done = os.path.join(root, ".phantoms_complete")  # holds the settings it was written with
    settings = {**config.data.phantoms.to_dict(), "seed": config.seed}
    if os.path.exists(done):
        with open(done) as f:
            written = json.load(f)
        if written != settings:
            raise ValueError(
                f"{root} holds phantoms written with other config keys data.phantoms.* / seed "
                f"({written}, now {settings}): use another workdir, or delete {root}"
            )
        return root
    logging.info("data.root is empty: writing phantoms into %s", root)
    p = config.data.phantoms
    phantoms.write_dataset(
        root,
        n_train=p.n_train,
        n_val=p.n_val,
        n_test=p.n_test,
        n_reference=p.n_reference,
        size=p.size,
        seed=config.seed,
        difficulty=p.difficulty,
    )
    with open(done, "w") as f:
        json.dump(settings, f)
    return root


def load_splits(config, workdir: str, strategy) -> dict:
    """{"train": split, "val": split, "test": split} from data.tfds or a DATA_ROOT."""
    if config.data.tfds:
        try:
            from kerasg2c.data import tfds_source
        except ImportError as e:
            raise ImportError(
                "config key data.tfds needs tensorflow-datasets: pip install 'kerasg2c[tfds]'"
            ) from e
        return {
            s: tfds_source.load_tfds_split(
                config.data.tfds, s, data_dir=config.data.tfds_data_dir or None
            )
            for s in SPLITS
        }
    root = data_root(config, workdir, strategy)
    scan_cache = os.path.join(workdir, "data_scan.json")
    return {
        s: pipeline.load_labeled_split(root, s, strict=config.data.strict, scan_cache=scan_cache)
        for s in SPLITS
    }


def dataset_tasks(config, workdir: str, strategy) -> dict:
    """The hierarchical tasks the dataset declares (dataset.json "tasks"); {} for TFDS."""
    if config.data.tfds:
        return {}
    return layout.read_dataset_info(data_root(config, workdir, strategy)).tasks


def steps_per_epoch(config, train_split) -> int:
    """`train.steps_per_epoch`, or one pass over the training split when it is 0."""
    available = pipeline.steps_per_epoch(len(train_split), config.train.batch_size)
    if available == 0:
        raise ValueError(
            f"the training split has {len(train_split)} images, fewer than config key "
            f"train.batch_size={config.train.batch_size}"
        )
    return config.train.steps_per_epoch or available


def loop_settings(config, steps_per_epoch: int) -> loop.LoopSettings:
    """The loop's settings from the `train.*` keys."""
    t = config.train
    return loop.LoopSettings(
        epochs=t.epochs,
        steps_per_epoch=steps_per_epoch,
        global_batch_size=t.batch_size,
        checkpoint_every=t.checkpoint_every_steps,
        log_every=t.log_every_steps,
        jit_compile=t.jit_compile,
    )


def use_cache(config, split) -> bool:
    return pipeline.fits_in_memory(
        len(split), config.data.image_size, int(config.data.cache_budget_gb * 2**30)
    )


def make_optimizer(opt_config, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """SGD/Adam with the learning rate divided by `decay_factor` every
    `decay_every_epochs` (G2C: 0.01, ÷10 every 5 epochs), wrapped for mixed_float16."""
    lr = opt_config.learning_rate
    if opt_config.decay_every_epochs:
        boundaries = [steps_per_epoch * opt_config.decay_every_epochs * k for k in range(1, 20)]
        values = [lr * opt_config.decay_factor**k for k in range(20)]
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if opt_config.name == "sgd":
        optimizer = keras.optimizers.SGD(lr, momentum=opt_config.momentum)
    elif opt_config.name == "adam":
        optimizer = keras.optimizers.Adam(lr)
    else:
        raise ValueError(f"config key optimizer.name={opt_config.name!r}: expected 'sgd' or 'adam'")
    return runtime.optimizer_for_precision(optimizer)


def data_summary(splits: dict) -> dict:
    """Counts per split and class, and every unreadable file that was skipped."""
    return {
        name: {
            "n": len(s),
            "per_class": {c: int((s.labels == i).sum()) for i, c in enumerate(s.classes)},
            "skipped": [{"path": p, "reason": r} for p, r in s.skipped],
        }
        for name, s in splits.items()
    }


def write_report(workdir: str, report: dict) -> str:
    path = os.path.join(workdir, "report.json")
    report = {"written": time.strftime("%Y-%m-%dT%H:%M:%S"), **report}
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    return path
