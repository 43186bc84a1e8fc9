"""`export_model` and `export_run`: every format of each model of a run into a Triton model
repository, each variant checked against the in-process Keras model.

Formats (one exporter module each): `savedmodel` (Triton's TensorFlow backend, Triton <=
25.02), `onnx` (tf2onnx, the onnxruntime backend; model name suffixed `_onnx`), `python`
(Triton's Python backend running the SavedModel in this environment; suffix `_python`; runs
on the CPU server of `serving.server`). The files each writes: `serving.export.layout`.
"""

import os

from absl import logging

from serving import model_config, server
from serving.export import exportables, images, layout, onnx, prepare, python_backend, savedmodel

FORMATS = ("savedmodel", "onnx", "python")
# Format → exporter(prepared, name, model_dir, version_dir) → max abs diffs (None: skipped).
EXPORTERS = {
    "savedmodel": savedmodel.export_savedmodel,
    "onnx": onnx.export_onnx,
    "python": python_backend.export_python,
}


def export_model(
    exportable: exportables.Exportable,
    repository: str,
    version: int = 1,
    formats=FORMATS,
    input_dtype: str = "uint8",
    batching: model_config.Batching | None = None,
    execution_env: str | None = None,
    max_pixels: int = images.MAX_PIXELS,
) -> dict:
    """Writes `exportable` in every format; returns {model name: max abs diffs}.

    Args:
        exportable: the model (`find_exportables`).
        repository: the model repository to write into.
        version: the version folder (replaced when it exists).
        formats: any of FORMATS; written in FORMATS' order.
        input_dtype: "uint8" or "float32" pixels; image models only (not a model with
            `serving_inputs`).
        batching: server-side batching and placement (default `model_config.Batching()`).
        execution_env: the Python environment the Python-backend variant runs in (Triton's
            EXECUTION_ENV_PATH); default this interpreter's virtual environment, if any.
        max_pixels: the largest height × width a request may have (`serving.export.images`);
            image models only.

    Examples:

        export_model(exportable, "model_repository", formats=("savedmodel", "python"))
    """
    batching = batching or model_config.Batching()
    if execution_env is None:
        execution_env = server.python_backend_parameters().get("EXECUTION_ENV_PATH")
    if max_pixels < 1:
        raise ValueError(f"--max_pixels must be positive, got {max_pixels}")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"--formats: unknown {unknown}; expected some of {list(FORMATS)}")
    prepared = prepare.prepare(exportable, input_dtype, max_pixels)
    results = {}
    for fmt in [f for f in FORMATS if f in formats]:
        name = layout.model_name(exportable.name, fmt)
        model_dir, version_dir = layout.new_version(repository, name, version)
        diffs = EXPORTERS[fmt](prepared, name, model_dir, version_dir)
        if diffs is None:  # skipped (the exporter says why)
            continue
        metadata = layout.model_metadata(prepared, fmt, version, diffs)
        layout.write_model_files(model_dir, name, fmt, prepared, metadata, batching, execution_env)
        results[name] = diffs
        logging.info("exported %s (%s): max |exported - Keras| %s", name, fmt, diffs)
    return results


def export_run(workdir, repository, name=None, **kwargs) -> dict:
    """Every exportable model of run `workdir` into `repository` (see `export_model`).

    Args:
        workdir: the run directory.
        repository: the model repository (made if missing).
        name: the base model name (default the run folder's name).
        **kwargs: `export_model`'s options.

    Examples:

        export_run("runs/g2c", "model_repository", name="g2c")
    """
    os.makedirs(repository, exist_ok=True)
    results = {}
    for exportable in exportables.find_exportables(workdir, name):
        results.update(export_model(exportable, repository, **kwargs))
    return results
