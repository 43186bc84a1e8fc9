"""Which stain each class leans on: the cross-stain attention of a G2C PAS_ALL+ run, per
class, averaged over a split's patches (AAAI G2C, §Formulation; docs/METHODS.md §2).

python -m kerasg2c.tools.stain_attention --workdir=RUN [--split=test]

RUN is a G2C workdir with attention (variant PAS_ALL_PLUS) holding report.json,
config.json, predictions_<split>.csv and model.keras. Writes `stain_attention.json` and
`stain_attention.png` into RUN: per class of the run (one row each, classes from its
report), per stain branch (the input stain, then the generated ones), the mean gate (over
the class's patches, the channels and the attention blocks; each gate is a sigmoid in
(0, 1)) and the mean share (a patch's gate of the stain over the sum of its stains' gates,
which sums to 1 per patch).

Examples:

    kerasg2c stain-attention --workdir=runs/g2c --split=val
"""

import json
import os
import sys

from absl import app, flags

from kerasg2c.errors import UserError
from kerasg2c.evaluation.stain_attention import run
from kerasg2c.jobs import shared_config

_WORKDIR = flags.DEFINE_string("workdir", None, "A G2C PAS_ALL+ run's workdir.")
_SPLIT = flags.DEFINE_enum("split", "test", ["val", "test"], "Split whose patches are used.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not _WORKDIR.value:
        raise app.UsageError("--workdir is required")
    try:
        config_path = os.path.join(_WORKDIR.value, "config.json")
        image_size = None  # without config.json, `run` refuses the run and says why
        if os.path.isfile(config_path):
            with open(config_path) as f:
                image_size = shared_config.image_shape(json.load(f))
        table = run(_WORKDIR.value, image_size, _SPLIT.value)
    except UserError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    for row in table["rows"]:
        shares = row["mean_share"] or []
        cells = ", ".join(f"{s} {v:.3f}" for s, v in zip(table["stains"], shares))
        print(f"{row['class']} ({row['patches']} patches): {cells}")
    print(f"wrote {os.path.join(_WORKDIR.value, 'stain_attention.png')}")
    return 0


if __name__ == "__main__":
    app.run(main)
