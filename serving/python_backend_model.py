"""Triton Python-backend model serving an exported SavedModel (copied by `serving.export`
into `REPO/<name>/<version>/model.py`, next to `model.savedmodel/`).

Runs anywhere Triton's Python backend does, the CPU server of `serving.server` included.
The inputs (names, dtypes, dims) are read from the model's configuration: an image model
takes "image" (its size, values and max_pixels are checked), a model with its own inputs
(`serving_inputs`, see `serving.export`) takes those, checked for batch, shape, dtype,
finite floats and the ranges in its metadata, and passed by name to the SavedModel.
Requests that Triton's dynamic batcher hands over together are run as one batch (grouped
by input shapes); a bad request gets an error naming the problem, the others are answered.
Tensors cross the stub by DLPack: under numpy 2 the stub's `as_numpy()` reads zeros and
`pb_utils.Tensor(name, array)` sends nothing, silently (Triton 2.51's stub is built for
numpy 1).
"""

import json
import os

import numpy as np
import tensorflow as tf
import triton_python_backend_utils as pb_utils

# numpy dtypes of the Triton types `serving.export` writes (its model_config.TRITON_TYPES).
DTYPES = {
    "TYPE_UINT8": "uint8",
    "TYPE_INT32": "int32",
    "TYPE_INT64": "int64",
    "TYPE_FP32": "float32",
}


def _problem(image: np.ndarray, input_dtype: str, max_pixels: int) -> str | None:
    """Why `image` cannot be served, or None; its size is checked before its pixels are."""
    if image.ndim != 4 or image.shape[-1] != 3:
        return f"input 'image' must be [batch, height, width, 3], got {list(image.shape)}"
    if image.shape[0] == 0:
        return "input 'image' holds an empty batch"
    if min(image.shape[1:3]) < 1:
        return f"input 'image' has an empty side: {list(image.shape)}"
    height, width = image.shape[1:3]
    if height * width > max_pixels:
        return (
            f"image of {width}×{height} = {width * height} pixels exceeds max_pixels = "
            f"{max_pixels} of this model"
        )
    if input_dtype == "float32":
        if not np.isfinite(image).all():
            return "input 'image' has NaN or infinite pixels"
        if image.min() < 0.0 or image.max() > 1.0:
            return f"input 'image' must be in [0, 1], got [{image.min():.4g}, {image.max():.4g}]"
    return None


def _input_problem(name, x: np.ndarray, spec: dict) -> str | None:
    """Why input `name` = `x` ([batch, *dims] as sent) cannot be served, or None. `spec`:
    dtype, dims (as sent, -1 = any), range (inclusive, or None)."""
    dims = spec["dims"]
    if x.dtype != np.dtype(spec["dtype"]):
        return f"input {name!r} must be {spec['dtype']}, got {x.dtype}"
    if not any(
        x.ndim == 1 + len(d) and all(a in (-1, n) for a, n in zip(d, x.shape[1:]))
        for d in (dims, spec["model_dims"])  # as sent, or already reshaped
    ):
        want = ", ".join(["batch", *(str(d) for d in dims)])
        return f"input {name!r} must be [{want}], got {list(x.shape)}"
    if x.shape[0] == 0:
        return f"input {name!r} holds an empty batch"
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        return f"input {name!r} has NaN or infinite values"
    bounds = spec["range"]
    if bounds is not None and x.size and (x.min() < bounds[0] or x.max() > bounds[1]):
        # The SavedModel graph's own check says the same.
        return f"input {name} must be in [{bounds[0]}, {bounds[1]}], got [{x.min()}, {x.max()}]"
    return None


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        folder = os.path.join(args["model_repository"], args["model_version"], "model.savedmodel")
        self.serve = tf.saved_model.load(folder).signatures["serving_default"]
        self.outputs = [o["name"] for o in config["output"]]
        metadata = json.loads(config["parameters"]["kerasg2c_metadata"]["string_value"])
        ranges = {k: v.get("range") for k, v in metadata.get("inputs", {}).items()}
        self.image = "input" in metadata  # an image model (no serving_inputs)
        if self.image:
            self.input_dtype = DTYPES[config["input"][0]["data_type"]]
            self.max_pixels = metadata["input"]["max_pixels"]
        # Per input: dtype, dims as sent and as the SavedModel takes them (`reshape`).
        self.inputs = {}
        for i in config["input"]:
            dims = [int(d) for d in i["dims"]]  # protobuf JSON writes int64 as strings
            shape = i["reshape"].get("shape", []) if "reshape" in i else dims
            self.inputs[i["name"]] = {
                "dtype": DTYPES[i["data_type"]],
                "dims": dims,
                "model_dims": [int(d) for d in shape],
                "range": ranges.get(i["name"]),
            }

    def _read(self, request):
        """{name: array as the SavedModel takes it}, or the problem (a string)."""
        if self.image:
            image = np.from_dlpack(pb_utils.get_input_tensor_by_name(request, "image"))
            return _problem(image, self.input_dtype, self.max_pixels) or {"image": image}
        arrays = {}
        for name, spec in self.inputs.items():
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                return f"input {name!r} is missing"
            x = np.from_dlpack(tensor)
            problem = _input_problem(name, x, spec)
            if problem:
                return problem
            if x.ndim != 1 + len(spec["model_dims"]):  # [B, 1] → [B] for a scalar input
                x = x.reshape(x.shape[0], *spec["model_dims"])
            arrays[name] = x
        if len({x.shape[0] for x in arrays.values()}) > 1:
            sizes = {k: x.shape[0] for k, x in arrays.items()}
            return f"the inputs of one request must have one batch size, got {sizes}"
        return arrays

    def execute(self, requests):
        responses = [None] * len(requests)
        groups = {}  # input shapes without batch → request indices
        inputs = {}
        for i, request in enumerate(requests):
            read = self._read(request)
            if isinstance(read, str):
                responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(read))
                continue
            inputs[i] = read
            key = tuple((k, x.shape[1:]) for k, x in sorted(read.items()))
            groups.setdefault(key, []).append(i)
        for indices in groups.values():
            names = inputs[indices[0]]
            batch = {k: tf.constant(np.concatenate([inputs[i][k] for i in indices])) for k in names}
            result = self.serve(**batch)
            arrays = {name: result[name].numpy() for name in self.outputs}
            start = 0
            for i in indices:
                n = next(iter(inputs[i].values())).shape[0]
                tensors = [
                    pb_utils.Tensor.from_dlpack(k, np.ascontiguousarray(v[start : start + n]))
                    for k, v in arrays.items()
                ]
                responses[i] = pb_utils.InferenceResponse(output_tensors=tensors)
                start += n
        return responses
