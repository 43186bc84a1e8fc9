"""The copies of its generators a G2C holds."""

import keras


def own_copy(generator, name):
    """A copy of `generator` named `name`, with its weights if it was built.

    Generators exported by the CycleGAN stage are all called "generator_ab" and
    were built outside this model, so their variable paths would collide in a
    checkpoint; each G2C keeps its own copies named generator_1 … generator_M.
    """
    if generator.name == name and not generator.built:
        return generator
    config = keras.saving.serialize_keras_object(generator)
    config["config"]["name"] = name
    clone = keras.saving.deserialize_keras_object(config)
    if generator.built:
        if not clone.built:
            build_config = generator.get_build_config()
            if not build_config:
                raise ValueError(
                    f"G2C: cannot rebuild generator {generator.name!r}; build it with "
                    "`generator.build(shape)` or pass it unbuilt"
                )
            clone.build_from_config(build_config)
        clone.set_weights(generator.get_weights())
    return clone
