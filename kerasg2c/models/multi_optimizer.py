"""Compile state of a model whose `train_step` applies several optimizers, each to its own
variables (CycleGAN: generators and discriminators; G2C: classifier and generators)."""

import keras


class MultiOptimizerModel:
    """Mixin, listed before `keras.Model`, for `compile(*optimizers)` in `OPTIMIZERS` order.

    It saves the optimizers in `.keras` files, restores them (their states included) in
    `keras.saving.load_model`, and `build_optimizers` creates their variables.

    OPTIMIZERS: one (compile-config key, optimizer attribute, variables attribute) per
    optimizer; the first optimizer is required, the others may be None (nothing to train).
    """

    OPTIMIZERS = ()

    def get_compile_config(self):
        optimizers = [getattr(self, attribute, None) for _, attribute, _ in self.OPTIMIZERS]
        if optimizers[0] is None:
            return None
        serialize = keras.saving.serialize_keras_object
        return {
            key: None if optimizer is None else serialize(optimizer)
            for (key, _, _), optimizer in zip(self.OPTIMIZERS, optimizers)
        }

    def compile_from_config(self, config):
        deserialize = keras.saving.deserialize_keras_object
        self.compile(
            *(
                None if config.get(key) is None else deserialize(config[key])
                for key, _, _ in self.OPTIMIZERS
            )
        )
        if self.built:  # so that `load_model` restores the optimizer states too
            self.build_optimizers()

    def build_optimizers(self):
        """Creates every optimizer variable (before the first, possibly XLA, step)."""
        name = type(self).__name__
        if getattr(self, self.OPTIMIZERS[0][1], None) is None:
            raise ValueError(f"{name}: call compile({', '.join(k for k, _, _ in self.OPTIMIZERS)})")
        if not self.built:
            raise ValueError(
                f"{name}: call the model once on a batch of training-size images (inside "
                "strategy.scope()) to create every variable"
            )
        for _, attribute, variables in self.OPTIMIZERS:
            optimizer = getattr(self, attribute)
            if optimizer is not None and not optimizer.built:
                optimizer.build(getattr(self, variables))
