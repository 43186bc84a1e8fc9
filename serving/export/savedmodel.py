"""The SavedModel exporter: `REPO/<model>/<version>/model.savedmodel`, for Triton's
TensorFlow backend (Triton <= 25.02; platform "tensorflow_savedmodel")."""

import os
import shutil

from serving.export import verify


def write_savedmodel(model, serve, folder: str) -> None:
    """Saves `serve` as the "serving_default" signature of a SavedModel in `folder`.

    Args:
        model: the Keras model `serve` calls (tracked, so its variables are saved).
        serve: the tf.function of the serving graph.
        folder: the SavedModel directory to write.
    """
    import tensorflow as tf

    module = tf.Module()
    module.model = model
    module.serve = serve
    tf.saved_model.save(module, folder, signatures={"serving_default": serve})


def check_savedmodel(folder: str, probes, reference) -> dict:
    """{output: max |SavedModel - Keras|} on the probes (`verify.check_outputs`).

    Args:
        folder: the SavedModel directory.
        probes: the probe inputs.
        reference: the Keras outputs on them.
    """
    import tensorflow as tf

    signature = tf.saved_model.load(folder).signatures["serving_default"]

    def run(probe):
        outputs = signature(**{n: tf.constant(x) for n, x in probe.items()})
        return {k: v.numpy() for k, v in outputs.items()}

    return verify.check_outputs(run, probes, reference, f"SavedModel {folder}")


def export_savedmodel(prepared, name: str, model_dir: str, version_dir: str) -> dict:
    """Writes `version_dir/model.savedmodel` and returns its max abs diffs from Keras; the
    first SavedModel of `prepared` is written and checked, later ones copy it.

    Args:
        prepared: the `prepare.Prepared` model (its `savedmodel` is set by the first call).
        name: the Triton model name (unused: every exporter takes the same arguments).
        model_dir: `REPO/<name>` (unused, as `name`).
        version_dir: `REPO/<name>/<version>`, empty.
    """
    del name, model_dir
    saved = os.path.join(version_dir, "model.savedmodel")
    if prepared.savedmodel is None:
        write_savedmodel(prepared.exportable.model, prepared.serve, saved)
        prepared.savedmodel = saved
        prepared.savedmodel_diffs = check_savedmodel(saved, prepared.probes, prepared.reference)
    else:
        shutil.copytree(prepared.savedmodel, saved)
    return prepared.savedmodel_diffs
