"""The checks every model and layer test runs, after keras-hub's `run_vision_backbone_test`
and `run_model_saving_test`: output shapes, the config and `.keras` round trips, and one
training step."""

import inspect
import json
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from kerasg2c.training import loop


def run_model_test(cls, init_kwargs, input_data, expected_output_shape):
    """`cls(**init_kwargs)` on `input_data` (inference mode): its output shape (and
    `compute_output_shape` where kerasg2c defines it), then `run_config_test` and
    `run_saving_test`. Returns the model."""
    model = cls(**init_kwargs)
    output = model(input_data, training=False)
    assert tuple(output.shape) == tuple(expected_output_shape), output.shape
    if _kerasg2c_defines(model, "compute_output_shape"):
        shape = model.compute_output_shape(tuple(input_data.shape))
        assert tuple(shape) == tuple(expected_output_shape), shape
    run_config_test(model, input_data)
    run_saving_test(model, input_data)
    return model


def run_config_test(model, input_data):
    """`get_config` holds every constructor argument, and `from_config` of it gives the
    same config and, with the same weights, the same outputs."""
    config = model.get_config()
    missing = _constructor_arguments(type(model)) - config.keys()
    assert not missing, f"get_config lacks {sorted(missing)}"
    clone = type(model).from_config(config)
    clone(input_data, training=False)
    assert clone.get_config() == config
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(
        clone(input_data, training=False), model(input_data, training=False), atol=1e-6
    )


def run_saving_test(model, input_data):
    """A `.keras` save and `keras.saving.load_model` give the same class, config, variables
    (by path) and outputs. Returns the loaded model."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        keras.saving.save_model(model, path)
        loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert _as_json(loaded.get_config()) == _as_json(model.get_config())
    saved, restored = _by_path(model), _by_path(loaded)
    assert len(saved) == len(model.weights) and restored.keys() == saved.keys()
    for path, value in saved.items():
        np.testing.assert_array_equal(restored[path], value, err_msg=path)
    np.testing.assert_allclose(
        loaded(input_data, training=False), model(input_data, training=False), atol=1e-6
    )
    return loaded


def run_train_step_test(model, batch, variables=None):
    """One compiled `train_step` on `batch` (optimizers built as `kerasg2c.training.loop`
    builds them) returns finite losses and changes each of `variables` (default: every
    trainable variable). Returns the logs."""
    variables = model.trainable_variables if variables is None else variables
    assert variables
    loop.build_optimizers(model)
    before = [np.array(v.numpy()) for v in variables]
    logs = tf.function(model.train_step)(batch)
    assert logs
    for name, value in logs.items():
        assert np.all(np.isfinite(np.asarray(value))), (name, value)
    unchanged = [v.path for v, b in zip(variables, before) if np.array_equal(b, v.numpy())]
    assert not unchanged, unchanged
    return logs


def _as_json(config):
    """`config` as the `.keras` file stores it (tuples become lists)."""
    return json.loads(json.dumps(config))


def _by_path(model):
    """{path: value} of every variable, paths as checkpoints key them: without the model's
    name, which a loaded model's sub-models (G2C's generators, built while deserialised)
    lack."""
    prefix = model.name + "/"
    return {v.path.removeprefix(prefix): np.asarray(v.numpy()) for v in model.weights}


def _constructor_arguments(cls):
    """The named arguments of the kerasg2c constructors of `cls` (its own and inherited)."""
    names = set()
    for c in cls.__mro__:
        if c.__module__.startswith("kerasg2c.") and "__init__" in vars(c):
            parameters = inspect.signature(c.__init__).parameters.values()
            names |= {
                p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            }
    return names - {"self"}


def _kerasg2c_defines(obj, method):
    return any(method in vars(c) for c in type(obj).__mro__ if c.__module__.startswith("kerasg2c."))
