"""The ONNX exporter: tf2onnx on a SavedModel, `REPO/<model>_onnx/<version>/model.onnx`, for
Triton's onnxruntime backend (platform "onnxruntime_onnx").

The ONNX graph cannot refuse oversized images (tf2onnx drops assertions). When tf2onnx
cannot convert a model with named inputs (`serving_inputs`), or writes a graph that
onnxruntime cannot load, its ONNX variant is skipped with a warning; an image model's
export fails instead.
"""

import os
import shutil
import subprocess
import sys

from absl import logging

from serving.export import layout, savedmodel, verify


def write_onnx(savedmodel_dir: str, path: str) -> None:
    """tf2onnx's converter on the SavedModel (its documented CLI); RuntimeError on failure.

    Args:
        savedmodel_dir: the SavedModel to convert.
        path: the .onnx file to write.
    """
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", savedmodel_dir]
    cmd += ["--output", path, "--opset", "17"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"tf2onnx failed on {savedmodel_dir}:\n{proc.stderr[-3000:]}")


def onnx_session(path: str):
    """onnxruntime's session on `path`; RuntimeError when it cannot load the graph.

    Args:
        path: the .onnx file.
    """
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise RuntimeError(f"onnxruntime cannot load {path}: {str(e)[:1500]}") from e


def check_onnx(session, path: str, probes, reference) -> dict:
    """{output: max |ONNX - Keras|} on the probes (`verify.check_outputs`).

    Args:
        session: the onnxruntime session of `path`.
        path: the .onnx file (for the error messages).
        probes: the probe inputs.
        reference: the Keras outputs on them.
    """
    input_names = {i.name.split(":")[0]: i.name for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]

    def run(probe):
        feed = {input_names[k]: x for k, x in probe.items()}
        return dict(zip(names, session.run(None, feed)))

    return verify.check_outputs(run, probes, reference, f"ONNX {path}")


def export_onnx(prepared, name: str, model_dir: str, version_dir: str) -> dict | None:
    """Writes `version_dir/model.onnx`, converted from the SavedModel of `prepared` (or one
    written for it in `model_dir` and removed after), and returns its max abs diffs from
    Keras; None, with the version removed, when a named-input model cannot be converted.

    Args:
        prepared: the `prepare.Prepared` model.
        name: the Triton model name (for the warning).
        model_dir: `REPO/<name>`.
        version_dir: `REPO/<name>/<version>`, empty.
    """
    scratch = prepared.savedmodel
    if scratch is None:
        scratch = os.path.join(model_dir, "savedmodel_for_onnx")
        savedmodel.write_savedmodel(prepared.exportable.model, prepared.serve, scratch)
    onnx_path = os.path.join(version_dir, "model.onnx")
    try:
        write_onnx(scratch, onnx_path)
        session = onnx_session(onnx_path)
    except RuntimeError as e:
        if prepared.own_inputs is None:
            raise
        layout.remove_version(model_dir, version_dir)
        reason = str(e).strip().splitlines()[-1]
        reason = reason if len(reason) <= 160 else "…" + reason[-160:]
        logging.warning(
            "%s: no ONNX variant, tf2onnx cannot convert this model (%s); "
            "the SavedModel and Python variants are unaffected",
            name,
            reason,
        )
        return None
    finally:
        if scratch != prepared.savedmodel:
            shutil.rmtree(scratch, ignore_errors=True)  # maybe gone with model_dir
    return check_onnx(session, onnx_path, prepared.probes, prepared.reference)
