"""Triton Python-backend model serving an exported SavedModel (copied by `serving.export`
into `REPO/<name>/<version>/model.py`, next to `model.savedmodel/`).

Runs anywhere Triton's Python backend does, the CPU server of `serving.server` included.
Requests that Triton's dynamic batcher hands over together are run as one batch (grouped
by image size); a bad request gets an error naming the problem, the others are answered.
Tensors cross the stub by DLPack: under numpy 2 the stub's `as_numpy()` reads zeros and
`pb_utils.Tensor(name, array)` sends nothing, silently (Triton 2.51's stub is built for
numpy 1).
"""

import json
import os

import numpy as np
import tensorflow as tf
import triton_python_backend_utils as pb_utils


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


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        folder = os.path.join(args["model_repository"], args["model_version"], "model.savedmodel")
        self.serve = tf.saved_model.load(folder).signatures["serving_default"]
        self.outputs = [o["name"] for o in config["output"]]
        dtypes = {"TYPE_UINT8": "uint8", "TYPE_FP32": "float32"}
        self.input_dtype = dtypes[config["input"][0]["data_type"]]
        metadata = json.loads(config["parameters"]["kerasg2c_metadata"]["string_value"])
        self.max_pixels = metadata["input"]["max_pixels"]

    def execute(self, requests):
        responses = [None] * len(requests)
        groups = {}  # image shape without batch → request indices
        images = {}
        for i, request in enumerate(requests):
            image = np.from_dlpack(pb_utils.get_input_tensor_by_name(request, "image"))
            problem = _problem(image, self.input_dtype, self.max_pixels)
            if problem:
                responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(problem))
                continue
            images[i] = image
            groups.setdefault(image.shape[1:], []).append(i)
        for indices in groups.values():
            batch = np.concatenate([images[i] for i in indices])
            result = self.serve(image=tf.constant(batch))
            arrays = {name: result[name].numpy() for name in self.outputs}
            start = 0
            for i in indices:
                n = images[i].shape[0]
                tensors = [
                    pb_utils.Tensor.from_dlpack(k, np.ascontiguousarray(v[start : start + n]))
                    for k, v in arrays.items()
                ]
                responses[i] = pb_utils.InferenceResponse(output_tensors=tensors)
                start += n
        return responses
