"""Reading and writing the small JSON files runs keep (dataset.json, best.json, reports)."""

import json
import os

from kerasg2c.errors import UserError


def read_object(path: str, default: dict | None = None) -> dict:
    """The JSON object in `path`, or a copy of `default` ({}) when there is no such file.

    Raises UserError naming the file when it is not a JSON object.
    """
    if not os.path.isfile(path):
        return dict(default or {})
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(value, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def write(path: str, value, indent: int | None = None) -> None:
    """Writes `value` to `path` as JSON."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=indent)
