"""Checkpoints that let a killed run continue where it stopped.

A checkpoint holds the model (with the optimizers it owns as attributes, so
their slots and iteration counters) and the global step. The data position
needs no state: an epoch's order is a pure function of (seed, epoch), so the
step alone says which batch comes next.

Under MultiWorkerMirroredStrategy every worker must call `save` (it is
collective); only the chief writes to `workdir/checkpoints`, the others write
to a scratch folder they delete again.
"""

import os
import shutil

import tensorflow as tf
from absl import logging


class CheckpointKeeper:
  """Saves and restores `model` and the global step under `workdir/checkpoints`.

  Args:
    model: the Keras model; every optimizer it holds as an attribute is saved.
    workdir: the run's folder.
    chief: whether this worker owns the real checkpoint folder.
    task_index: this worker's index, naming its scratch folder.
    max_to_keep: how many checkpoints to keep.
  """

  def __init__(self, model, workdir: str, *, chief: bool = True, task_index: int = 0,
               max_to_keep: int = 3):
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    self.checkpoint = tf.train.Checkpoint(model=model, step=self.step)
    self.directory = os.path.join(workdir, "checkpoints")
    self.chief = chief
    write_dir = self.directory if chief else os.path.join(
        workdir, "checkpoints_scratch", f"worker_{task_index}")
    self.manager = tf.train.CheckpointManager(self.checkpoint, write_dir, max_to_keep)

  def restore(self) -> int:
    """Restores the newest checkpoint, if any; returns the step to start from."""
    latest = tf.train.latest_checkpoint(self.directory)
    if latest is None:
      return 0
    self.checkpoint.restore(latest).assert_existing_objects_matched()
    logging.info("resumed from %s at step %d", latest, int(self.step.numpy()))
    return int(self.step.numpy())

  def save(self, step: int) -> str:
    """Saves the state after `step` steps; returns the chief's checkpoint path."""
    self.step.assign(step)
    path = self.manager.save(checkpoint_number=step)
    if not self.chief:
      shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    return path

  @property
  def latest_step(self) -> int | None:
    latest = tf.train.latest_checkpoint(self.directory)
    return None if latest is None else int(latest.rsplit("-", 1)[1])
