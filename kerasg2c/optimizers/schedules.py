"""Learning-rate schedules."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasg2c")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Constant for `constant_steps`, then linear to 0 over `decay_steps`.

    The original CycleGAN schedule (Zhu et al. 2017, §4: 100 epochs at 2e-4,
    then linear decay to zero over the next 100), counted in optimizer steps:
    lr(s) = lr0 · clip(1 − (s − constant_steps) / decay_steps, 0, 1). The last
    step of a run of `constant_steps + decay_steps` steps uses lr0 / decay_steps,
    as the reference's last epoch uses lr0 / (n_epochs_decay + 1).

    Args:
      initial_learning_rate: lr0.
      constant_steps: steps at lr0 (epochs × steps per epoch).
      decay_steps: steps over which the rate falls to 0.
    """

    def __init__(self, initial_learning_rate, constant_steps, decay_steps, name=None):
        super().__init__()
        if decay_steps <= 0:
            raise ValueError(f"decay_steps={decay_steps}: must be positive")
        self.initial_learning_rate = initial_learning_rate
        self.constant_steps, self.decay_steps = constant_steps, decay_steps
        self.name = name

    def __call__(self, step):
        step = ops.cast(step, "float32")
        progress = (step - float(self.constant_steps)) / float(self.decay_steps)
        return self.initial_learning_rate * ops.clip(1.0 - progress, 0.0, 1.0)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "constant_steps": self.constant_steps,
            "decay_steps": self.decay_steps,
            "name": self.name,
        }
