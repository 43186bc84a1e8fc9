"""Identity warm start of a CycleGAN's two generators (`cyclegan.identity_warmup_epochs`).

Before the adversarial phase each generator learns to reproduce its own side's patches,
L1 between g(x) and x (a `PairedTranslator` trained on (x, x)), so that translation starts
from a map that keeps the structure and the adversarial phase only has to learn the stain.
Each generator's warm-up is a resumable run of the one loop in
`<pair workdir>/identity_<generator name>/`; a resumed CycleGAN then restores its own
checkpoint over it.
"""

import dataclasses
import os

import keras
import tensorflow as tf

from kerasg2c.jobs import train_settings
from kerasg2c.models.paired_translator import PairedTranslator
from kerasg2c.training import loop


def warm_up(config, context, workdir, model, make_dataset, steps_per_epoch) -> None:
    """Trains `model.generator_ab` on the A side's patches and `generator_ba` on the B
    side's to be the identity, for `cyclegan.identity_warmup_epochs` epochs of
    `make_dataset(epoch, skip)` (the CycleGAN's (a, b) batches; conditional: each side
    with its classes, which the generator sees as it will in training), with Adam at the
    CycleGAN's learning rate and β1; a no-op at 0."""
    epochs = config.cyclegan.identity_warmup_epochs
    if not epochs:
        return
    settings = dataclasses.replace(
        train_settings.loop_settings(config, steps_per_epoch), epochs=epochs
    )
    for side, generator in enumerate((model.generator_ab, model.generator_ba)):
        with context.strategy.scope():
            warm = PairedTranslator(generator, name=f"identity_{generator.name}")
            size, channels = config.data.image_size, 3 + model.num_classes
            warm(tf.zeros((1, size, size, channels)))  # builds it (the generator is already)
            warm.compile(
                keras.optimizers.Adam(
                    config.optimizer.learning_rate, beta_1=config.optimizer.beta_1
                )
            )

        def identity_pairs(epoch, skip, side=side):
            def pair(a, b):
                x, classes = (a, b)[side] if model.num_classes else ((a, b)[side], None)
                return model.with_class(x, classes), x

            return make_dataset(epoch, skip).map(pair)

        loop.fit(
            warm,
            identity_pairs,
            strategy=context.strategy,
            workdir=os.path.join(workdir, f"identity_{generator.name}"),
            settings=settings,
        )
