"""What every phantom writer's command line does: write, preview, or both, and say so.

Each phantom module (`python -m kerasg2c.phantoms.<name>`, `kerasg2c <name>-phantoms`)
defines its own flags and calls `write_and_preview` with what to do for --out and for
--preview, so that all of them refuse the same way (exit 2 when neither is given) and log
the same lines (`<name>: {summary}` with the seconds taken, `<name>: preview written to P`).
"""

import json
import time

from absl import app, flags, logging


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


def define_slide_flags(width, height, smallest):
    """The flags of a phantom slide writer: --out, --width, --height, --seed, --preview.
    `smallest`: the least side in pixels."""
    flags.DEFINE_string("out", None, "Folder to write the slide and its truth to.")
    flags.DEFINE_integer(
        "width", width, f"Slide width in pixels (a multiple of 256, >= {smallest})."
    )
    flags.DEFINE_integer(
        "height", height, f"Slide height in pixels (a multiple of 256, >= {smallest})."
    )
    flags.DEFINE_integer("seed", 0, "Seed (>= 0); equal seeds give byte-identical slides.")
    flags.DEFINE_string("preview", None, "Optional PNG: the slide's thumbnail.")


def slide_main(name, write_slide, slide_file, summary_keys, check_size) -> None:
    """The command line of a phantom slide writer (flags of `define_slide_flags`).

    Args:
      name: what the lines call the slides ("mil slide phantoms").
      write_slide: `write_slide(out, height=, width=, seed=)` -> its truth dict.
      slide_file: the pyramid's file name in --out (the preview is its thumbnail).
      summary_keys: the truth's keys logged.
      check_size: `check_size(height, width)` raises ValueError for a size it cannot write.

    Raises:
      app.UsageError: exit 2, a size the writer cannot use or --preview without --out.
    """
    import pathlib

    from PIL import Image

    from kerasg2c.slides import reader

    f = flags.FLAGS
    if f.preview and not f.out:
        raise app.UsageError("--preview is drawn from the slide: give --out too", exitcode=2)
    try:
        check_size(f.height, f.width)
    except ValueError as e:
        raise app.UsageError(f"--height/--width: {e}", exitcode=2) from None

    def write(out):
        truth = write_slide(out, height=f.height, width=f.width, seed=f.seed)
        return {k: truth[k] for k in summary_keys}

    def preview(png):
        with reader.open_slide(pathlib.Path(f.out) / slide_file) as slide:
            Image.fromarray(slide.thumbnail(1024)).save(png)

    write_and_preview(name, f.out, f.preview, write, preview)
