"""Launchers: `python -m trainers.<name> --config=configs/<name>.py`."""

import os

# Hide TensorFlow's C++ INFO lines (device probing) unless the user asks for them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
