"""Config files: Python files with `get_config()`, loaded by path (not an installed package),
so `configs/` in a checkout never clashes with a user's own `configs` module."""

import importlib.util
import os

from kerasg2c.errors import MissingPathError


def load_module(path: str, relative_to: str | None = None):
    """The config file at `path` as a module; `relative_to`: a file whose folder `path` is
    relative to (a config that extends a sibling passes its own `__file__`)."""
    if relative_to:
        path = os.path.join(os.path.dirname(os.path.abspath(relative_to)), path)
    if not os.path.isfile(path):
        raise MissingPathError(f"{path}: no such config file")
    name = "kerasg2c_config_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(path: str):
    """`get_config()` of the config file at `path`."""
    return load_module(path).get_config()
