"""The Triton model repository layout an export writes, per model and format:
`REPO/<model>/config.pbtxt` (`model_config.config_text`), `REPO/<model>/<version>/...` (the
format's files), `labels.txt` (class names, when the model has classes) and `metadata.json`
(also in the config as the parameter "kerasg2c_metadata", so clients need nothing else).
Model names: the SavedModel variant takes the model's name, the others are suffixed with
their format (`_onnx`, `_python`)."""

import json
import os
import shutil

from serving import model_config


def model_name(base: str, fmt: str) -> str:
    """The Triton model name of `base` in format `fmt`.

    Args:
        base: the exportable's name.
        fmt: "savedmodel", "onnx" or "python".

    Examples:

        model_name("g2c", "onnx")  # "g2c_onnx"
    """
    return base if fmt == "savedmodel" else f"{base}_{fmt}"


def new_version(repository: str, name: str, version: int) -> tuple[str, str]:
    """(model_dir, version_dir) of model `name`, the version folder emptied (made anew).

    Args:
        repository: the model repository.
        name: the Triton model name.
        version: the version folder's number.
    """
    model_dir = os.path.join(repository, name)
    version_dir = os.path.join(model_dir, str(version))
    if os.path.exists(version_dir):
        shutil.rmtree(version_dir)
    os.makedirs(version_dir)
    return model_dir, version_dir


def remove_version(model_dir: str, version_dir: str) -> None:
    """Removes `version_dir`, and `model_dir` when no other version is left in it.

    Args:
        model_dir: `REPO/<name>`.
        version_dir: `REPO/<name>/<version>`.
    """
    shutil.rmtree(version_dir)
    if not any(f.isdigit() for f in os.listdir(model_dir)):
        shutil.rmtree(model_dir)


def model_metadata(prepared, fmt: str, version: int, diffs: dict) -> dict:
    """metadata.json of one variant: the run's, the format and version, the inputs and
    outputs, and the variant's max abs differences from Keras ("export_max_abs_diff").

    Args:
        prepared: the `prepare.Prepared` model.
        fmt: the variant's format.
        version: the version folder's number.
        diffs: {output: max |exported - Keras|} of the variant.
    """
    return {
        **prepared.exportable.metadata,
        "format": fmt,
        "version": version,
        **prepared.input_metadata,
        "outputs": {t.name: {"dtype": t.dtype, "dims": list(t.dims)} for t in prepared.outputs},
        "export_max_abs_diff": diffs,
    }


def write_model_files(
    model_dir: str,
    name: str,
    fmt: str,
    prepared,
    metadata: dict,
    batching: model_config.Batching,
    execution_env: str | None,
) -> None:
    """Writes config.pbtxt, metadata.json and (for a model with classes) labels.txt.

    Args:
        model_dir: `REPO/<name>`.
        name: the Triton model name.
        fmt: the variant's format.
        prepared: the `prepare.Prepared` model (its tensors and classes).
        metadata: the variant's `model_metadata`.
        batching: server-side batching and placement.
        execution_env: the Python backend's EXECUTION_ENV_PATH (python format only).
    """
    classes = prepared.exportable.classes
    label_output = "probabilities" if classes else None
    with open(os.path.join(model_dir, "config.pbtxt"), "w") as f:
        f.write(
            model_config.config_text(
                name,
                fmt,
                prepared.inputs,
                prepared.outputs,
                batching,
                metadata,
                label_output,
                execution_env,
            )
        )
    with open(os.path.join(model_dir, "metadata.json"), "w") as f:
        json.dump(metadata, f, indent=1)
    if classes:
        with open(os.path.join(model_dir, "labels.txt"), "w") as f:
            f.write("\n".join(classes) + "\n")
