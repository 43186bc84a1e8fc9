"""Gathers a slide analysis' per-slide summaries (all shards) into one table and figure.

python -m kerasg2c.tools.slide_merge --out=DIR [--analysis=ki67]

Reads every `DIR/*/<analysis>.json` that a slide tool finished and writes
`DIR/<analysis>_slides.csv` (one row a slide, with its manifest label) and
`DIR/<analysis>_slides.png` (the analysis' main figure per slide, coloured by label).
Exit 2 with one line when DIR holds no finished summary.

Examples:

    kerasg2c slide-merge --out=runs/ki67_slides --analysis=ki67
"""

import sys

from absl import app, flags, logging

from kerasg2c.errors import UserError
from kerasg2c.slides import batch

# analysis -> (the summary keys tabulated, the one drawn per slide)
ANALYSES = {
    "ki67": (("nuclei", "positive", "index", "tiles", "tiles_per_s", "level"), "index"),
    "cells": (("nuclei", "proportions", "tiles", "tiles_per_s", "level"), "proportions"),
    "mil": (
        ("slide_score", "tumour_instances", "instances", "instances_per_s", "level"),
        "slide_score",
    ),
}

_OUT = flags.DEFINE_string("out", None, "The folder the slide tool wrote into.")
_ANALYSIS = flags.DEFINE_enum("analysis", "ki67", list(ANALYSES), "Which analysis to merge.")
flags.mark_flag_as_required("out")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}", exitcode=2)
    columns, plot = ANALYSES[_ANALYSIS.value]
    try:
        merged = batch.merge(_OUT.value, _ANALYSIS.value, columns=columns, plot=plot)
    except UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    logging.info(
        "slide-merge: %d slides -> %s, %s", merged["slides"], merged["table"], merged["figure"]
    )
    return 0


if __name__ == "__main__":
    app.run(main)
