"""What a job derives from the `train.*` and `optimizer.*` keys: steps per epoch, the
loop's settings, and the classifier's optimizer."""

import keras

from kerasg2c.errors import UserError
from kerasg2c.training import loop, runtime

OPTIMIZERS = ("sgd", "adam")


def steps_per_epoch(config, available: int, data: str) -> int:
    """`train.steps_per_epoch`, or `available` (the batches of one pass over the training
    data, described by `data`) when it is 0; at most `available`."""
    t = config.train
    if available == 0:
        raise UserError(
            f"{data} holds fewer images than config key train.batch_size={t.batch_size}: "
            "lower the batch size"
        )
    if t.steps_per_epoch > available:
        raise UserError(
            f"config key train.steps_per_epoch={t.steps_per_epoch}: one pass over {data} "
            f"has {available} batches of {t.batch_size}; use at most that (0 = one pass)"
        )
    return t.steps_per_epoch or available


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
