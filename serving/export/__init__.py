"""Export of trained runs into a Triton model repository (`python -m serving.export`, whose
usage is in `serving/export/__main__.py`).

Modules: `exportables` (the models of a run), `images` (the graph of an image model:
resize, max_pixels), `named_inputs` (the graph of a model with `serving_inputs()`),
`prepare` (graph, probes and Keras reference of one model), one exporter per format
(`savedmodel`, `onnx`, `python_backend`), `layout` (the repository's folders, config.pbtxt,
metadata.json, labels.txt), `verify` (the agreement with Keras) and `writer`
(`export_model`, `export_run`). The names below are this package's public interface.
"""

from serving.export.exportables import Exportable, find_exportables
from serving.export.images import (
    MAX_PIXELS,
    probe_images,
    resize_antialiased,
    serving_function,
)
from serving.export.named_inputs import inputs_serving_function, model_inputs, probe_tensors
from serving.export.verify import TOLERANCE
from serving.export.writer import FORMATS, export_model, export_run

__all__ = [
    "FORMATS",
    "MAX_PIXELS",
    "TOLERANCE",
    "Exportable",
    "export_model",
    "export_run",
    "find_exportables",
    "inputs_serving_function",
    "model_inputs",
    "probe_images",
    "probe_tensors",
    "resize_antialiased",
    "serving_function",
]
