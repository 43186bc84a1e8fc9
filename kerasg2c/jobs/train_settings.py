"""What a job derives from the `train.*` and `optimizer.*` keys: steps per epoch, the
epoch reader, the loop's settings, and the classifier's optimizer."""

import keras
from absl import logging

from kerasg2c.errors import UserError
from kerasg2c.training import loop, runtime

OPTIMIZERS = ("sgd", "adam")


def steps_per_epoch(
    config, examples: int, data: str, keys=("train.batch_size",), repeat=True
) -> int:
    """Steps of one epoch: `train.steps_per_epoch`, or when it is 0 the whole steps of one
    pass over the `examples` training examples, and at least one.

    A step reads the product of the config values of `keys` (e.g. `train.batch_size` ×
    `histogan.n_critic`). When an epoch needs more examples than the set holds (a set
    smaller than one step, or a `train.steps_per_epoch` beyond one pass), the job's dataset
    repeats the set, reshuffled per pass (the job passes `repeat_to=steps × per step` to
    it), and one line says so; with `repeat=False` (a job whose data cannot repeat) that is
    refused instead, naming the true limit and the keys.

    Args:
      config: the run's config.
      examples: training examples of one pass (CycleGAN: the longer unpaired side).
      data: what they are, for the messages ("the training split (48 images)").
      keys: the config keys whose values multiply to the examples one step reads.
      repeat: whether the job's dataset can repeat the set.

    Examples:
      >>> keys = ("train.batch_size", "histogan.n_critic")  # 16 × 5 = 80 per step
      >>> steps_per_epoch(config, 48, "the training split (48 images)", keys)
      1  # logs: 48 images < 80 per step (train.batch_size=16, ...): the set is repeated
    """
    per_step, named = 1, []
    for key in keys:
        value = config
        for part in key.split("."):
            value = value[part]
        per_step *= int(value)
        named.append(f"{key}={value}")
    named = ", ".join(named)
    one_pass = examples // per_step
    steps = config.train.steps_per_epoch or max(1, one_pass)
    if steps * per_step <= examples:
        return steps
    if one_pass == 0:
        why = f"{per_step} per step ({named})"
        limit = f"lower {' or '.join(keys)} so that a step reads at most {examples}"
    else:
        why = f"{steps * per_step} per epoch (train.steps_per_epoch={steps} × {named})"
        limit = f"use train.steps_per_epoch at most {one_pass} (0 = one pass)"
    if not repeat:
        raise UserError(f"{data}: {examples} examples < {why}; {limit}")
    logging.info("%d images < %s: the set is repeated", examples, why)
    return steps


def epoch_reader(config, read, *, batch_size: int, steps_per_epoch: int, **kwargs):
    """`make_dataset(epoch, skip)` as `loop.fit` takes it: one epoch of `read`'s batches.

    Every job reads its training data the same way: seeded by `config.seed`, augmented
    per `config.data.augment`, `skip` batches skipped on a resume, and a set too small for
    `steps_per_epoch` steps repeated (`repeat_to`, see `steps_per_epoch`).

    Args:
      config: the run's config.
      read: a function taking `batch_size`, `seed`, `epoch`, `skip_batches`, `augment`
        and `repeat_to` keywords (`LabeledSplit.dataset`, `StainPair.dataset`, ...).
      batch_size: examples one step reads (WGAN-GP: `n_critic` sub-batches).
      steps_per_epoch: the epoch's steps.
      **kwargs: further keywords of `read` (`image_size=`, `training=True`, ...).

    Examples:
      >>> make_dataset = epoch_reader(config, train.dataset, batch_size=16,
      ...                             steps_per_epoch=3, image_size=64, training=True)
      >>> make_dataset(0, 0)  # epoch 0 from its start: 3 batches of 16
    """

    def make_dataset(epoch, skip):
        return read(
            batch_size=batch_size,
            seed=config.seed,
            epoch=epoch,
            skip_batches=skip,
            augment=config.data.augment,
            repeat_to=steps_per_epoch * batch_size,
            **kwargs,
        )

    return make_dataset


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
    else:
        optimizer = keras.optimizers.Adam(lr)
    return runtime.optimizer_for_precision(optimizer)
