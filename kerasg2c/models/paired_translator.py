"""A stain translator trained WITH pairs: per-pixel L1 between g(x) and the true
target-stain image of the same patch (phantoms have it, `paired/`).

Same generator as a CycleGAN's g_m, trained on the supervision CycleGAN lacks: how well
it translates is an estimate of the best any generator of that architecture can do from
the source stain (`trainers.paired_translator`).
"""

import keras
import tensorflow as tf
from keras import ops

from kerasg2c.models.multi_optimizer import MultiOptimizerModel
from kerasg2c.training import runtime


@keras.saving.register_keras_serializable(package="kerasg2c")
class PairedTranslator(MultiOptimizerModel, keras.Model):
    """One generator, A → B, trained by `train_step` on aligned (a, b) batches in [-1, 1]
    to minimise mean |g(a) − b| per example.

    `train_step` follows `kerasg2c.training.loop`: the loss is scaled by the global batch
    and the returned value is this replica's share of the global-batch mean. `call` is the
    generator. For `kerasg2c.evaluation.translation_quality` it looks like an unconditional
    CycleGAN without a way back: `generator_ba` is None (no reconstruction),
    `num_classes` 0 and `with_class` returns the images unchanged.

    Args:
      generator_ab: e.g. a `ResnetGenerator` taking 3 channels.

    Examples:

    >>> import numpy as np
    >>> from kerasg2c.models.resnet_generator import ResnetGenerator
    >>> model = PairedTranslator(ResnetGenerator(ngf=4, n_blocks=1))
    >>> tuple(model(np.zeros((2, 16, 16, 3), "float32")).shape)
    (2, 16, 16, 3)
    """

    OPTIMIZERS = (("optimizer", "optimizer", "generator_variables"),)
    num_classes = 0
    generator_ba = None

    def __init__(self, generator_ab, **kwargs):
        super().__init__(**kwargs)
        self.generator_ab = generator_ab

    def build(self, input_shape):
        """input_shape: (B, H, W, channels of A), H and W known."""
        if not self.generator_ab.built:
            self.generator_ab.build(tuple(input_shape))

    def compile(self, optimizer, **kwargs):
        """The generator's optimizer, through `runtime.optimizer_for_precision`."""
        optimizer = keras.optimizers.get(optimizer)
        super().compile(optimizer=runtime.optimizer_for_precision(optimizer), **kwargs)

    @property
    def generator_variables(self):
        return self.generator_ab.trainable_variables

    def call(self, inputs, training=None):
        return self.generator_ab(inputs, training=training)

    def with_class(self, images, classes):
        """No class conditioning: `images` unchanged."""
        return images

    def train_step(self, data):
        real_a, real_b = data
        variables = self.generator_variables
        with tf.GradientTape() as tape:
            fake_b = self.generator_ab(tf.cast(real_a, tf.float32), training=True)
            error = ops.abs(tf.cast(real_b, tf.float32) - ops.cast(fake_b, "float32"))
            per_example = ops.mean(error, axis=(1, 2, 3))  # mean |g(a) − b| per example, [B]
            loss = tf.nn.compute_average_loss(per_example)
            scaled = self.optimizer.scale_loss(loss)
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        return {"l1_loss": loss}

    def get_config(self):
        return {
            **super().get_config(),
            "generator_ab": keras.saving.serialize_keras_object(self.generator_ab),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator_ab"] = keras.saving.deserialize_keras_object(config["generator_ab"])
        return cls(**config)
