"""What a person watching a run sees: a live bar on a terminal, plain lines in
logs, TensorBoard scalars, and `history.json` (one row per epoch)."""

import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging


class RunningMeans:
    """Running mean of each named value over the steps of an epoch."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def update(self, values: dict) -> None:
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.count += 1

    def result(self) -> dict:
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}


class Progress:
    """Reports training progress; only the chief writes files.

    Args:
      workdir: the run's folder (TensorBoard events under `tensorboard/`).
      steps_per_epoch: the length of the bar.
      epochs: total epochs, for the log lines.
      global_batch_size: to report images/s.
      log_every: steps between plain log lines (when stdout is not a terminal)
        and between TensorBoard scalar writes.
      chief: whether this process writes.
    """

    def __init__(
        self, workdir, *, steps_per_epoch, epochs, global_batch_size, log_every=10, chief=True
    ):
        self.steps_per_epoch, self.epochs = steps_per_epoch, epochs
        self.global_batch_size, self.log_every, self.chief = global_batch_size, log_every, chief
        self.interactive = chief and sys.stdout.isatty()
        self.writer = (
            tf.summary.create_file_writer(os.path.join(workdir, "tensorboard", "train"))
            if chief
            else None
        )
        self.history_path = os.path.join(workdir, "history.json")
        self.history = self._load_history()
        self._bar, self._t0, self._epoch_steps, self._rate = None, 0.0, 0, 0.0
        self.means = RunningMeans()

    def _load_history(self) -> list:
        if os.path.exists(self.history_path):
            with open(self.history_path) as f:
                return json.load(f)
        return []

    def start_epoch(self, epoch: int, first_step_in_epoch: int) -> None:
        self.epoch, self.means = epoch, RunningMeans()
        self._t0, self._epoch_steps = time.perf_counter(), 0
        if self.interactive:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
            self._bar = keras.utils.Progbar(self.steps_per_epoch, stateful_metrics=None)
            self._bar.update(first_step_in_epoch)
        self._first = first_step_in_epoch

    def images_per_second(self) -> float:
        elapsed = time.perf_counter() - self._t0
        return self._epoch_steps * self.global_batch_size / max(elapsed, 1e-9)

    def step(self, global_step: int, values: dict) -> None:
        """Records one finished step (`global_step` counts from 1)."""
        self.means.update(values)
        self._epoch_steps += 1
        self._rate = self.images_per_second()  # training only, before any evaluation
        in_epoch = self._first + self._epoch_steps
        if self._bar is not None:
            self._bar.update(in_epoch, values=list(self.means.result().items()))
        if global_step % self.log_every == 0 or in_epoch == self.steps_per_epoch:
            if not self.interactive and self.chief:
                shown = " ".join(f"{k}={v:.4f}" for k, v in self.means.result().items())
                logging.info(
                    "epoch %d/%d step %d/%d %s (%.1f images/s)",
                    self.epoch + 1,
                    self.epochs,
                    in_epoch,
                    self.steps_per_epoch,
                    shown,
                    self.images_per_second(),
                )
            self.scalars(global_step, values, prefix="train/")

    def scalars(self, step: int, values: dict, prefix: str = "") -> None:
        if self.writer is None:
            return
        with self.writer.as_default(step=step):
            for k, v in values.items():
                if np.ndim(v) == 0:
                    tf.summary.scalar(prefix + k, float(v))
        self.writer.flush()

    def end_epoch(self, global_step: int, extra: dict) -> dict:
        """Appends the epoch's row (train means + `extra`) to history.json."""
        row = {
            "epoch": self.epoch + 1,
            "step": global_step,
            **{f"train_{k}": v for k, v in self.means.result().items()},
            "images_per_second": self._rate,
            **extra,
        }
        if self.chief:
            shown = " ".join(
                f"{k}={v:.4f}" for k, v in row.items() if isinstance(v, float) and k != "epoch"
            )
            logging.info("epoch %d/%d done: %s", row["epoch"], self.epochs, shown)
        self.history = [r for r in self.history if r["epoch"] != row["epoch"]] + [row]
        self.scalars(
            global_step,
            {k: v for k, v in extra.items() if isinstance(v, (int, float))},
            prefix="epoch/",
        )
        if self.chief:
            with open(self.history_path, "w") as f:
                json.dump(self.history, f, indent=1)
        return row
