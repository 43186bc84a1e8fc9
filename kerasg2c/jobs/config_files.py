"""Config files: Python files with `get_config()`, loaded by path (not an installed package),
so `configs/` in a checkout never clashes with a user's own `configs` module."""

import importlib.util
import os

from kerasg2c.errors import MissingPathError, UserError


def load_module(path: str, relative_to: str | None = None):
    """The config file at `path` as a module; `relative_to`: a file whose folder `path` is
    relative to (a config that extends a sibling passes its own `__file__`).

    Raises:
      MissingPathError: no such file.
      UserError: the file (or one it loads) has a syntax error; names the file and line.
    """
    if relative_to:
        path = os.path.join(os.path.dirname(os.path.abspath(relative_to)), path)
    if not os.path.isfile(path):
        raise MissingPathError(f"{path}: no such config file")
    name = "kerasg2c_config_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise syntax_error(e, path) from e
    return module


def syntax_error(error: SyntaxError, path: str) -> UserError:
    """A config file's syntax error as one line: the file, the line and what is wrong."""
    where = error.filename if error.filename and os.path.isfile(error.filename) else path
    return UserError(f"{where}:{error.lineno}: not a valid config file: {error.msg}")


def check_syntax(path: str) -> None:
    """Refuses a config file that is missing or does not parse, without running it.

    Raises:
      MissingPathError: no such file.
      UserError: a syntax error (file and line named).
    """
    if not os.path.isfile(path):
        raise MissingPathError(f"{path}: no such config file")
    with open(path, "rb") as f:
        source = f.read()
    try:
        compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as e:
        raise syntax_error(e, path) from e


def load(path: str):
    """`get_config()` of the config file at `path`."""
    return load_module(path).get_config()
