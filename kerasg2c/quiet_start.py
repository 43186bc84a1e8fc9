"""Imports TensorFlow without its C++ start-up chatter on machines without a GPU.

TensorFlow ≥ 2.19 prints "Could not find cuda drivers on your machine", the oneDNN notice
and "failed call to cuInit" from C++ before its logging is set up, so TF_CPP_MIN_LOG_LEVEL
does not hide them (tensorflow/tensorflow#100442). On a machine with no NVIDIA driver
they say nothing useful; the launchers import TensorFlow through `import_tensorflow`,
which sends the process's standard error to /dev/null for the import and the first
device listing only. Python exceptions still propagate (printed after stderr is back);
KERASG2C_STARTUP_LOGS=1 shows the lines.
"""

import os
import sys


def _has_nvidia_driver() -> bool:
    return os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/nvidia0")


def import_tensorflow() -> None:
    """Imports TensorFlow and lists its devices, quietly unless a GPU driver is present,
    TensorFlow is already imported, or KERASG2C_STARTUP_LOGS=1."""
    quiet = not (
        _has_nvidia_driver()
        or "tensorflow" in sys.modules
        or os.environ.get("KERASG2C_STARTUP_LOGS") == "1"
    )
    if not quiet:
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
