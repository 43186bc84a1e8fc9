"""How G2C trains its generators jointly with the classifier (Wu et al., "G2C: A
Generator-to-Classifier Framework Integrating Multi-Stained Visual Cues for Pathological
Glomerulus Classification": §Optimization of the AAAI version, §3.3 of the arXiv version):
the freeze gate, the second optimizer and the two-optimizer update."""

import keras
import tensorflow as tf
from keras import ops

from kerasg2c.training import runtime


class GeneratorTraining:
    """Mixin, listed before `Classifier`, for a model holding generators in `generators`.

    One backward pass of the classification loss updates the classifier (its
    `classifier_variables`) with `optimizer` and the generators with
    `generator_optimizer`. The freeze schedule (generators frozen for the first 5 of 30
    epochs) is the non-trainable variable `generators_trainable` (1.0 or 0.0), which
    multiplies the generators' gradient in the graph (a gradient-scaling identity on the
    generated images; it also converts between the two optimizers' loss scales under
    mixed_float16), so flipping it needs no retracing. At 0 the generators' gradient is
    exactly zero: a generator optimizer without weight decay leaves them bitwise
    unchanged.

    The model sets `generators` and `train_generators` (False = the frozen-generator
    ablation: never trained, no generator optimizer), then calls `_add_freeze_gate()`.
    """

    def _add_freeze_gate(self):
        """Creates `generators_trainable` (None without generators, so that a model with
        M = 0 holds exactly `Classifier`'s variables) and `generator_optimizer` (None until
        `compile`)."""
        if not self.train_generators:
            for generator in self.generators:
                generator.trainable = False
        self.generators_trainable = None
        if self.generators:
            self.generators_trainable = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(float(self.train_generators)),
                trainable=False,
                dtype="float32",
                name="generators_trainable",
            )
        self.generator_optimizer = None

    def compile(self, classifier_optimizer=None, generator_optimizer=None, **kwargs):
        """The classifier optimizer becomes `optimizer`; `generator_optimizer`
        defaults to a fresh copy of its configuration (the paper: SGD, momentum
        0.5, for both). No generator optimizer exists without trainable
        generators. Both pass through `runtime.optimizer_for_precision`."""
        name = type(self).__name__
        classifier_optimizer = kwargs.pop("optimizer", classifier_optimizer)
        if classifier_optimizer is None:
            raise ValueError(f"{name}.compile: give the classifier optimizer")
        classifier_optimizer = keras.optimizers.get(classifier_optimizer)
        super().compile(optimizer=runtime.optimizer_for_precision(classifier_optimizer), **kwargs)
        self.generator_optimizer = None
        if not (self.generators and self.train_generators):
            return
        if generator_optimizer is None:
            inner = getattr(classifier_optimizer, "inner_optimizer", classifier_optimizer)
            generator_optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(inner))
        generator_optimizer = keras.optimizers.get(generator_optimizer)
        inner = getattr(generator_optimizer, "inner_optimizer", generator_optimizer)
        if getattr(inner, "weight_decay", None):
            raise ValueError(
                f"{name}: the generator optimizer must not use weight_decay: it would change "
                "the generators while they are frozen"
            )
        self.generator_optimizer = runtime.optimizer_for_precision(generator_optimizer)

    @property
    def classifier_optimizer(self):
        return self.optimizer

    @property
    def generator_variables(self):
        """Trainable generator variables ([] for M = 0 or the frozen ablation)."""
        if not self.train_generators:
            return []
        return [v for g in self.generators for v in g.trainable_variables]

    def set_generators_trainable(self, trainable: bool) -> None:
        """The freeze schedule: False freezes the generators (no update), True lets
        the classification gradient reach them. Always off in the frozen ablation;
        a no-op for M = 0. Call it between steps, e.g. at an epoch boundary."""
        if self.generators_trainable is not None:
            self.generators_trainable.assign(float(bool(trainable) and self.train_generators))

    @staticmethod
    def _scale_gradient(y, scale):
        """y, whose gradient is multiplied by the scalar `scale` on the way back."""
        scale = ops.cast(scale, y.dtype)
        return ops.stop_gradient(y) + scale * (y - ops.stop_gradient(y))

    def _training_logits(self, images):
        """The generators' gradient is scaled by the freeze gate × (generator loss scale
        / classifier loss scale): exactly what `generator_optimizer` expects, or zero."""
        if not self.generator_variables:
            return self(images, training=True)
        if self.generator_optimizer is None:
            raise ValueError(f"{type(self).__name__}: call compile() before training")
        one = tf.constant(1.0, tf.float32)
        scale = (
            self.generators_trainable
            * self.generator_optimizer.scale_loss(one)
            / self.optimizer.scale_loss(one)
        )
        return self(images, training=True, generator_gradient_scale=scale)

    def _apply_gradients(self, tape, scaled_loss):
        """Updates θ^C with `optimizer` and the generators with `generator_optimizer`."""
        c_vars, g_vars = self.classifier_variables, self.generator_variables
        grads = tape.gradient(scaled_loss, c_vars + g_vars)
        self.optimizer.apply(grads[: len(c_vars)], c_vars)
        if g_vars:
            g_grads = [
                tf.zeros_like(v) if g is None else g for g, v in zip(grads[len(c_vars) :], g_vars)
            ]
            self.generator_optimizer.apply(g_grads, g_vars)
