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


def load_report(run: str) -> tuple[str, dict]:
    """(path, report) for a run's workdir or its report.json path.

    Raises UserError naming the path when there is no report or it has no 'metrics'.
    """
    path = os.path.join(run, "report.json") if os.path.isdir(run) else run
    if not os.path.isfile(path):
        raise UserError(f"no report at {path} (expected a workdir with report.json, or its path)")
    report = read_object(path)
    if "metrics" not in report:
        raise UserError(f"{path}: report has no 'metrics' (did the run finish?)")
    return path, report


def write(path: str, value, indent: int | None = None) -> None:
    """Writes `value` to `path` as JSON, through `path.tmp` renamed over it, so a reader (or
    a run killed mid-write) never finds half a file."""
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=indent)
    os.replace(temporary, path)
