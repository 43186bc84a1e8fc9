"""Old module paths, kept for one release: `python -m <old path>` still runs the tool
(after one line on stderr saying where it went) and `import <old path>` gives the new
module. Each old path is a three-line module calling `forward`."""

import importlib
import runpy
import sys


def forward(old: str, new: str, command: str | None = None) -> None:
    """Makes module `old` (the caller's `__name__`) stand for module `new`; `command` is
    how to run it now (default `python -m <new>`)."""
    if old == "__main__":
        print(f"note: moved to {new}; run `{command or 'python -m ' + new}`", file=sys.stderr)
        runpy.run_module(new, run_name="__main__", alter_sys=True)
    else:
        sys.modules[old] = importlib.import_module(new)
