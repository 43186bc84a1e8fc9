"""What every phantom writer's command line does: write, preview, or both, and say so.

Each phantom module (`python -m kerasg2c.phantoms.<name>`, `kerasg2c <name>-phantoms`)
defines its own flags and calls `write_and_preview` with what to do for --out and for
--preview, so that all of them refuse the same way (exit 2 when neither is given) and log
the same lines (`<name>: {summary}` with the seconds taken, `<name>: preview written to P`).
"""

import json
import time

from absl import app, logging


def write_and_preview(name, out, preview, write, write_preview) -> None:
    """Runs `write(out)` when `out` is given and `write_preview(preview)` when `preview` is.

    Args:
      name: what the lines call the phantoms ("cell phantoms").
      out: the --out flag (a folder), or None.
      preview: the --preview flag (a PNG path), or None.
      write: `write(out)` writes the phantoms and returns a JSON-able summary.
      write_preview: `write_preview(preview)` writes the preview PNG.

    Raises:
      app.UsageError: neither `out` nor `preview` given (absl prints it, exits 2).

    Examples:
      >>> write_and_preview(
      ...     "ihc phantoms", "data/ihc", "data/ihc.png",
      ...     lambda out: ihc.write_dataset(out, n_train=40, n_val=12, n_test=12),
      ...     lambda png: ihc.write_preview(png))
    """
    if out is None and preview is None:
        raise app.UsageError("--out or --preview must be given", exitcode=2)
    if out:
        started = time.perf_counter()
        summary = write(out)
        seconds = time.perf_counter() - started
        logging.info("%s: %s (%.1f s)", name, json.dumps(summary), seconds)
    if preview:
        write_preview(preview)
        logging.info("%s: preview written to %s", name, preview)
