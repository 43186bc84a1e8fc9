"""The one training loop every trainer uses, on every tf.distribute strategy.

Keras 3 `fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585),
so the loop is our own: `strategy.run(model.train_step)` inside a tf.function,
then `strategy.reduce`. Models keep a plain Keras `train_step`, so `model.fit`
still works for single-process users.

The contract with `train_step`:
  * losses are scaled by the GLOBAL batch (`tf.nn.compute_average_loss`), so
    the optimizer's cross-replica gradient SUM is the global-batch mean;
  * every value it returns is this replica's share of a global-batch mean,
    so the loop SUM-reduces them across replicas (and workers) to log them.

Around that: checkpoints every N steps and at each epoch end, automatic resume
mid-epoch (the data order is a function of (seed, epoch), so the step says
where to continue), SIGTERM/SIGINT save a checkpoint before the process exits
(agreed by all workers through one all-reduce per step), and a NaN/Inf in any
logged value stops the run, naming it, before anything bad is saved.
"""

import dataclasses
import signal
from typing import Callable

import numpy as np
import tensorflow as tf
from absl import logging

from kerasg2c.training import checkpointing, progress, runtime


class NonFiniteLossError(RuntimeError):
    """A logged loss became NaN or Inf; the last good checkpoint is untouched."""


class Interrupted(Exception):
    """SIGTERM/SIGINT stopped the run after a checkpoint was saved."""

    def __init__(self, signum: int, step: int):
        super().__init__(
            f"{signal.Signals(signum).name} received: checkpoint saved at step "
            f"{step}; run the same command again to resume"
        )
        self.signum, self.step = signum, step


@dataclasses.dataclass
class LoopSettings:
    """How long to train and how often to save and log."""

    epochs: int
    steps_per_epoch: int
    global_batch_size: int
    checkpoint_every: int = 100
    log_every: int = 10
    jit_compile: bool = False


class _StopRequest:
    """Remembers a SIGTERM/SIGINT instead of dying on it, while installed."""

    def __init__(self):
        self.signum = 0

    def __enter__(self):
        self._previous = {
            s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)
        }
        return self

    def _handle(self, signum, frame):
        logging.warning(
            "%s received: finishing this step and saving a checkpoint", signal.Signals(signum).name
        )
        self.signum = signum

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def build_optimizers(model) -> None:
    """Creates every optimizer variable before the first (possibly XLA) step.

    A model with several optimizers (a GAN) defines `build_optimizers()`;
    otherwise `model.optimizer` is built on the trainable variables.
    """
    if hasattr(model, "build_optimizers"):
        model.build_optimizers()
    elif model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def make_distributed_step(model, strategy: tf.distribute.Strategy, jit_compile: bool):
    """Returns step(batch, stop) -> (logs reduced over replicas, stop summed over all).

    `stop` is this process's pending signal number (0 = none); its sum over all
    replicas of all workers is non-zero on every worker as soon as one is asked
    to stop, so all of them save the same step and exit together.
    """

    replica_step = model.train_step
    if jit_compile:
        replica_step = tf.function(replica_step, jit_compile=True)

    def agree(stop):
        ctx = tf.distribute.get_replica_context()
        # The share of each replica, so that the sum counts each process once.
        share = stop / tf.cast(ctx.num_replicas_in_sync, tf.float32)
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, share)

    @tf.function
    def step(batch, stop):
        logs = strategy.run(replica_step, args=(batch,))
        logs = {
            k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in logs.items()
        }
        stop = strategy.experimental_local_results(strategy.run(agree, args=(stop,)))[0]
        return logs, stop

    return step


def _distribute(strategy, dataset: tf.data.Dataset):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def _check_finite(logs: dict, step: int, keeper: checkpointing.CheckpointKeeper) -> None:
    for name, value in logs.items():
        if not np.all(np.isfinite(value)):
            raise NonFiniteLossError(
                f"'{name}' is {value} at step {step}; stopped without saving. The last good "
                f"checkpoint (step {keeper.latest_step}) is in {keeper.directory}"
            )


def fit(
    model,
    make_dataset: Callable[[int, int], tf.data.Dataset],
    *,
    strategy: tf.distribute.Strategy,
    workdir: str,
    settings: LoopSettings,
    on_epoch_end: Callable[[int], dict] | None = None,
) -> list:
    """Trains `model` (built inside `strategy.scope()`) and returns the history.

    Args:
      model: a built Keras model whose `train_step` follows the contract above.
      make_dataset: (epoch, skip_batches) -> that epoch's globally batched
        dataset from batch `skip_batches` on; the same (epoch, k) must always
        give the same batches.
      strategy: from `runtime.configure`.
      workdir: where checkpoints, TensorBoard events and history.json go.
      settings: epochs, steps, batch, save/log frequency, XLA.
      on_epoch_end: epoch -> extra metrics (e.g. validation) for the history.

    Raises:
      NonFiniteLossError: a logged value became NaN/Inf.
      Interrupted: SIGTERM/SIGINT arrived; a checkpoint was saved first.
    """
    chief = runtime.is_chief(strategy)
    with strategy.scope():
        build_optimizers(model)
    keeper = checkpointing.CheckpointKeeper(
        model, workdir, chief=chief, task_index=runtime.task_index(strategy)
    )
    start = keeper.restore()
    spe = settings.steps_per_epoch
    report = progress.Progress(
        workdir,
        steps_per_epoch=spe,
        epochs=settings.epochs,
        global_batch_size=settings.global_batch_size,
        log_every=settings.log_every,
        chief=chief,
    )
    step_fn = make_distributed_step(model, strategy, settings.jit_compile)
    step = start
    with _StopRequest() as stop_request:
        for epoch in range(start // spe, settings.epochs):
            skip = step - epoch * spe
            report.start_epoch(epoch, skip)
            batches = iter(_distribute(strategy, make_dataset(epoch, skip).take(spe - skip)))
            for _ in range(spe - skip):
                batch = next(batches, None)
                if batch is None:
                    raise ValueError(
                        f"epoch {epoch + 1} ran out of data after "
                        f"{step - epoch * spe} of {spe} steps: "
                        "lower config key train.steps_per_epoch (0 = one pass over the data)"
                    )
                logs, stop = step_fn(batch, tf.constant(stop_request.signum, tf.float32))
                step += 1
                logs = {k: v.numpy() for k, v in logs.items()}
                _check_finite(logs, step, keeper)
                report.step(step, logs)
                if int(stop):
                    keeper.save(step)
                    raise Interrupted(stop_request.signum or signal.SIGTERM, step)
                if step % settings.checkpoint_every == 0:
                    keeper.save(step)
            extra = on_epoch_end(epoch) if on_epoch_end else {}
            report.end_epoch(step, extra)
            if step % settings.checkpoint_every:
                keeper.save(step)
    return report.history
