"""The Python-backend exporter: Triton's Python backend running the SavedModel in this
environment (`REPO/<model>_python/<version>/model.py` beside `model.savedmodel`); it runs on
the CPU server of `serving.server`. The model file is `serving/python_backend_model.py`."""

import os
import shutil

from serving.export import savedmodel

MODEL_FILE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python_backend_model.py"
)


def export_python(prepared, name: str, model_dir: str, version_dir: str) -> dict:
    """Writes the SavedModel and `model.py` into `version_dir`; returns the SavedModel's max
    abs diffs from Keras (the Python backend runs this same SavedModel).

    Args:
        prepared: the `prepare.Prepared` model.
        name: the Triton model name.
        model_dir: `REPO/<name>`.
        version_dir: `REPO/<name>/<version>`, empty.
    """
    diffs = savedmodel.export_savedmodel(prepared, name, model_dir, version_dir)
    shutil.copy(MODEL_FILE, os.path.join(version_dir, "model.py"))
    return diffs
