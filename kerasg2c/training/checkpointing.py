"""Checkpoints that let a killed run continue where it stopped.

A checkpoint holds every model variable (trainable or not: batch-norm
statistics too), every variable of each optimizer the model holds as an
attribute (slots, iteration counters, loss scale) and the global step.
Variables are listed explicitly: `tf.train.Checkpoint(model=...)` on a Keras 3
model silently skips layers kept in Python lists (Keras wraps lists in its own
container, which TensorFlow's tracking does not walk). The data position
needs no state: an epoch's order is a pure function of (seed, epoch), so the
step alone says which batch comes next.

Under MultiWorkerMirroredStrategy every worker must call `save` (it is
collective); only the chief writes to `workdir/checkpoints`, the others write
to a scratch folder they delete again.
"""

import os
import shutil

import keras
import tensorflow as tf
from absl import logging


def optimizers_of(model) -> dict:
    """{attribute name: optimizer} for every Keras optimizer the model holds."""
    return {
        name: value
        for name, value in sorted(vars(model).items())
        if isinstance(value, keras.optimizers.Optimizer)
    }


def training_state(model) -> dict:
    """Every variable a resumed run needs, under names stable across processes."""
    prefix = model.name + "/"
    state = {"model/" + w.path.removeprefix(prefix): w for w in model.weights}
    if len(state) != len(model.weights):
        raise ValueError(f"{model.name}: two variables share a path; give the layers unique names")
    for name, optimizer in optimizers_of(model).items():
        state.update({f"{name}/{i:04d}": v for i, v in enumerate(optimizer.variables)})
    return state


class CheckpointKeeper:
    """Saves and restores `model` and the global step under `workdir/checkpoints`.

    Args:
      model: the built Keras model, its optimizers built too.
      workdir: the run's folder.
      chief: whether this worker owns the real checkpoint folder.
      task_index: this worker's index, naming its scratch folder.
      max_to_keep: how many checkpoints to keep.
    """

    def __init__(
        self, model, workdir: str, *, chief: bool = True, task_index: int = 0, max_to_keep: int = 3
    ):
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(state=training_state(model), step=self.step)
        self.directory = os.path.join(workdir, "checkpoints")
        self.chief = chief
        write_dir = (
            self.directory
            if chief
            else os.path.join(workdir, "checkpoints_scratch", f"worker_{task_index}")
        )
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
