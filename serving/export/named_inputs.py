"""The serving graph of a model that takes named inputs (`serving_inputs()`), not images.

A model that takes something other than images defines `serving_inputs()`: {name:
(dtype, dims)} or {name: (dtype, dims, (low, high))}, dims per example without the batch
(() = one scalar per example; Triton carries it as dims [1] reshaped to []), dtypes of
`model_config.TRITON_TYPES`, (low, high) the inclusive range of valid values (required for
int32 and int64 inputs). Its graph then takes those named inputs, [B, *dims] each, and
calls `serving_outputs(**inputs)`; --input_dtype and --max_pixels do not apply. The graph
refuses out-of-range values ("input class_id must be in [0, 2], got [0, 5]"), and so does
the Python backend, before any work, which also refuses NaN and infinite floats. The probe
inputs are seeded: integers drawn from the range (its ends included), floats uniform in the
range or, without one, N(0, 1). metadata.json lists them under "inputs" (dtype, dims as
sent to Triton, range). When tf2onnx cannot convert such a model, or writes a graph that
onnxruntime cannot load, its ONNX variant is skipped with a warning (an image model's
export fails instead).
"""

import numpy as np

from serving import model_config


def model_inputs(model) -> list[model_config.Tensor] | None:
    """The inputs of `model.serving_inputs()` (see the module docstring), or None for a
    model served from images; ValueError naming a bad entry.

    Args:
        model: any object; its `serving_inputs()`, if it has one, returns a dict (see the
            module docstring) or a list of `model_config.Tensor`-like objects.

    Examples:

        model_inputs(generator)  # [Tensor("class_id", "int32", (), (0, 2)), ...]
    """
    method = getattr(model, "serving_inputs", None)
    if method is None:
        return None
    spec = method()
    if isinstance(spec, dict):
        entries = list(spec.items())
    else:  # model_config.Tensor-like objects
        entries = [(t.name, (t.dtype, t.dims, getattr(t, "range", None))) for t in spec]
    inputs = []
    for name, entry in entries:
        dtype, dims, *rest = entry
        dtype, dims = str(dtype), tuple(int(d) for d in dims)
        bounds = tuple(rest[0]) if rest and rest[0] is not None else None
        if dtype not in model_config.TRITON_TYPES:
            raise ValueError(
                f"serving_inputs: input {name!r} has dtype {dtype!r}; "
                f"expected one of {list(model_config.TRITON_TYPES)}"
            )
        if bounds is not None and (len(bounds) != 2 or bounds[0] > bounds[1]):
            raise ValueError(f"serving_inputs: input {name!r} has range {bounds}; need (low, high)")
        if dtype.startswith("int") and bounds is None:
            raise ValueError(
                f"serving_inputs: integer input {name!r} needs a (low, high) range "
                "(its valid values: the probes are drawn from it, requests are checked)"
            )
        inputs.append(model_config.Tensor(str(name), dtype, dims, bounds))
    if not inputs:
        raise ValueError("serving_inputs: no inputs")
    return inputs


def inputs_serving_function(model, inputs: list[model_config.Tensor]):
    """tf.function: the named `inputs`, [B, *dims] each → `model.serving_outputs(**inputs)`;
    InvalidArgumentError before any work when a value is outside its input's range.

    Args:
        model: a model with `serving_outputs(**inputs)`.
        inputs: its inputs, as `model_inputs` gives them.

    Examples:

        serve = inputs_serving_function(generator, model_inputs(generator))
    """
    import tensorflow as tf

    specs = [tf.TensorSpec([None, *t.dims], t.dtype, name=t.name) for t in inputs]

    @tf.function(input_signature=specs)
    def serve(*values):
        named = {}
        for t, x in zip(inputs, values):
            if t.range is not None:
                low, high = t.range
                message = tf.strings.format(
                    f"input {t.name} must be in [{low}, {high}], got [{{}}, {{}}]",
                    (tf.reduce_min(x), tf.reduce_max(x)),
                )
                inside = tf.reduce_all(x >= low) & tf.reduce_all(x <= high)
                with tf.control_dependencies([tf.debugging.Assert(inside, [message])]):
                    x = tf.identity(x)
            named[t.name] = x
        return model.serving_outputs(**named)

    return serve


def probe_tensors(inputs: list[model_config.Tensor]) -> list[dict]:
    """Seeded values of `inputs` (see the module docstring), batches of 3 and 2.

    Args:
        inputs: the model's inputs; -1 dims are probed at 4.

    Examples:

        probe_tensors([model_config.Tensor("k", "int64", (), (1, 4))])  # k: [3], then [2]
    """
    rng = np.random.default_rng(0)
    probes = []
    for batch in (3, 2):
        probe = {}
        for t in inputs:
            shape = (batch, *(4 if d == -1 else d for d in t.dims))
            if t.dtype.startswith(("int", "uint")):
                low, high = t.range or (0, 255)
                x = rng.integers(low, high + 1, size=shape, dtype=np.int64)
                x.reshape(-1)[[0, -1]] = low, high
            elif t.range is not None:
                x = rng.uniform(t.range[0], t.range[1], size=shape)
            else:
                x = rng.standard_normal(shape)
            probe[t.name] = x.astype(t.dtype)
        probes.append(probe)
    return probes


def inputs_metadata(inputs: list[model_config.Tensor]) -> dict:
    """metadata.json's "inputs" entry: dtype, dims as sent to Triton and range of each."""
    return {
        "inputs": {
            t.name: {
                "dtype": t.dtype,
                "dims": list(t.dims) or [1],  # as sent: a scalar per example is [1]
                **({"range": list(t.range)} if t.range is not None else {}),
            }
            for t in inputs
        }
    }
