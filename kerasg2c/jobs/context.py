"""The run context: what a job runs in, built once per process where the launcher starts.

It holds the tf.distribute strategy, whether this process is the chief, the workdir (with
its `train.log` and `config.json`), the DATA_ROOT the job reads and the image settings
derived from the config (`images`: the image shape and the cache budget, resolved once
here). A job that runs another
stage first (G2C its CycleGAN stage, a hierarchy its two tasks) enters `stage()`: the same
strategy and data, another workdir.
"""

import contextlib
import dataclasses
import json
import logging as py_logging
import os

import keras
import tensorflow as tf
from absl import logging

from kerasg2c.errors import UserError
from kerasg2c.jobs.image_settings import ImageSettings
from kerasg2c.phantoms import glomeruli
from kerasg2c.training import runtime


@dataclasses.dataclass(frozen=True)
class RunContext:
    """Attributes:
    strategy: the tf.distribute strategy every stage trains under.
    chief: True on the worker that writes logs, checkpoints, figures and reports.
    task_index: this worker's index in the cluster (0 on one machine).
    workdir: the absolute folder this stage writes into.
    data_root: the DATA_ROOT this run reads (`data.root` or phantoms written for it);
      None with `data.tfds`.
    images: the image shape and cache budget of this stage's config, resolved once
      (`ImageSettings.from_config`); jobs read `images.shape` and `images.use_cache`.
    """

    strategy: tf.distribute.Strategy
    chief: bool
    task_index: int
    workdir: str
    data_root: str | None
    images: ImageSettings

    @classmethod
    def create(cls, config, write_phantoms=None) -> "RunContext":
        """Configures devices, strategy, precision and seeds (once per process, before
        anything else touches TensorFlow), opens the workdir and resolves the data.

        `write_phantoms(root, config)`: the job's own phantoms, written when `data.root`
        is empty (default: the glomerulus phantoms of `kerasg2c.phantoms.glomeruli`)."""
        strategy = runtime.configure(config.train, config.seed)
        replicas = strategy.num_replicas_in_sync
        if config.train.batch_size % replicas:
            raise UserError(
                f"config key train.batch_size={config.train.batch_size}: the global batch "
                f"must divide evenly over the {replicas} replicas"
            )
        context = cls(
            strategy=strategy,
            chief=runtime.is_chief(strategy),
            task_index=runtime.task_index(strategy),
            workdir=os.path.abspath(config.workdir),
            data_root=None,
            images=ImageSettings.from_config(config),
        )
        context._open_workdir(config)
        if config.data.tfds:
            return context
        root = context._resolve_data_root(config, write_phantoms)
        return dataclasses.replace(context, data_root=root)

    @contextlib.contextmanager
    def stage(self, config, write_phantoms=None):
        """A stage of this run in `config.workdir` (same strategy and data): it logs into
        its own workdir until it ends, and starts from `config.seed`. With
        `write_phantoms` (a stage that reads other data than this run) its data root is
        its own `data.root`, or those phantoms written into its workdir. Its image
        settings are its own config's."""
        child = dataclasses.replace(
            self,
            workdir=os.path.abspath(config.workdir),
            images=ImageSettings.from_config(config),
        )
        child._open_workdir(config)
        if write_phantoms is not None:
            root = child._resolve_data_root(config, write_phantoms)
            child = dataclasses.replace(child, data_root=root)
        keras.utils.set_random_seed(config.seed)
        try:
            yield child
        finally:
            self._log_into_workdir()

    def _open_workdir(self, config) -> None:
        """Creates the workdir; the chief logs to `train.log` in it and saves the config."""
        os.makedirs(self.workdir, exist_ok=True)
        if self.chief:
            self._log_into_workdir()
            with open(os.path.join(self.workdir, "config.json"), "w") as f:
                f.write(config.to_json_best_effort(indent=1))

    def _log_into_workdir(self) -> None:
        if not self.chief:
            return
        logger = logging.get_absl_logger()
        for handler in [h for h in logger.handlers if isinstance(h, py_logging.FileHandler)]:
            logger.removeHandler(handler)  # another stage's log file
            handler.close()
        handler = py_logging.FileHandler(os.path.join(self.workdir, "train.log"))
        handler.setFormatter(py_logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)

    def _resolve_data_root(self, config, write_phantoms=None) -> str:
        """`data.root`, or phantoms written into the workdir.

        Each worker writes its own phantom copy (they are deterministic), so multi-node
        runs need no shared file system.
        """
        if config.data.root:
            return os.path.abspath(config.data.root)  # reports and CSVs name files absolutely
        name = "data" if self.task_index == 0 else f"data_worker{self.task_index}"
        root = os.path.join(self.workdir, name)
        done = os.path.join(root, ".phantoms_complete")  # holds the settings it was written with
        settings = {**config.data.phantoms.to_dict(), "seed": config.seed}
        if not settings.get("nuisance", 1):  # level 0 writes what folders before the key hold
            del settings["nuisance"]
        if settings.get("pas_matrix_fade") == -1:  # likewise, the fade from difficulty
            del settings["pas_matrix_fade"]
        if os.path.exists(done):
            with open(done) as f:
                written = json.load(f)
            if written != settings:
                raise UserError(
                    f"{root} holds phantoms written with other config keys data.phantoms.* / "
                    f"seed ({written}, now {settings}): use another workdir, or delete {root}"
                )
            return root
        logging.info("data.root is empty: writing phantoms into %s", root)
        if write_phantoms is not None:
            write_phantoms(root, config)
        else:
            _write_glomerulus_phantoms(root, config)
        with open(done, "w") as f:
            json.dump(settings, f)
        return root


def _write_glomerulus_phantoms(root, config) -> None:
    p = config.data.phantoms
    glomeruli.write_dataset(
        root,
        n_train=p.n_train,
        n_val=p.n_val,
        n_test=p.n_test,
        n_reference=p.n_reference,
        size=p.size,
        seed=config.seed,
        difficulty=p.difficulty,
        pas_matrix_fade=None if p.pas_matrix_fade == -1 else p.pas_matrix_fade,
    )
