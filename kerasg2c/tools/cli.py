"""The `kerasg2c` command: one entry point for every command-line tool of the project.

    kerasg2c                      lists the tools
    kerasg2c TOOL [FLAGS...]      runs one; `kerasg2c TOOL --help` shows its flags

Each tool is a module run as `python -m <module>` would run it, so both spellings take the
same flags and give the same exit codes (0 done, 1 a run failed, 2 a flag or file cannot be
used), but for `--help`: 0 here, where absl's `python -m` exits 1. The trainers stay
`python -m trainers.<name> --config=configs/<name>.py`.

Examples:

    kerasg2c translate --generator=runs/cyclegan/generators/HE.keras \\
        --input=slide.tif --output=slide_HE.tif
    kerasg2c compare runs/g2c_pas_only runs/g2c --out=compare.json
    kerasg2c sweep --config=configs/g2c.py --seeds=0,1,2 --vary=variant=PAS_ONLY,PAS_ALL \\
        --out=runs/sweep_g2c
"""

import runpy
import sys

HELP_FLAGS = {"-h", "--help", "-?", "--helpshort", "--helpfull"}

# name → (module, what it does). The modules are found by name, not imported here, so the
# table names the serving tools without the library depending on them.
TOOLS = {
    "translate": ("kerasg2c.tools.translate", "translate a whole slide without tile seams"),
    "tile": ("kerasg2c.tools.tile", "cut a slide into tissue tiles inside a DATA_ROOT"),
    "compare": ("kerasg2c.tools.compare", "two runs side by side, with a paired t-test"),
    "sweep": ("kerasg2c.tools.sweep", "a trainer over a grid of seeds and config values"),
    "stain-attention": (
        "kerasg2c.tools.stain_attention",
        "which stain each class leans on (G2C PAS_ALL+ runs)",
    ),
    "ki67": ("kerasg2c.pathology.ki67", "the Ki-67 index of IHC images"),
    "slide-ki67": ("kerasg2c.tools.slide_ki67", "Ki-67 of whole slides as QuPath GeoJSON"),
    "slide-cells": ("kerasg2c.tools.slide_cells", "nuclei of whole slides by InfoWGAN-GP category"),
    "slide-mil": ("kerasg2c.tools.slide_mil", "MIL tumour probability over whole slides"),
    "slide-merge": ("kerasg2c.tools.slide_merge", "one table of a slide analysis' summaries"),
    "reader-study": ("kerasg2c.augment.reader_study", "HistoGAN's blind reader study"),
    "phantoms": ("kerasg2c.phantoms.glomeruli", "write glomerulus stain phantoms"),
    "cell-phantoms": ("kerasg2c.phantoms.cells", "write cell phantoms (InfoWGAN-GP)"),
    "slide-phantoms": ("kerasg2c.phantoms.slides", "write a pyramidal phantom slide"),
    "mil-phantoms": ("kerasg2c.phantoms.mil_tiles", "write weakly labelled MIL tiles"),
    "cell-slide-phantoms": ("kerasg2c.phantoms.cell_slides", "write a cell slide, nuclei known"),
    "mil-slide-phantoms": ("kerasg2c.phantoms.mil_slides", "write a MIL slide, instances known"),
    "ihc-phantoms": ("kerasg2c.phantoms.ihc", "write H&E / Ki-67 twin phantoms"),
    "ki67-slide-phantoms": ("kerasg2c.phantoms.ki67_slides", "write a Ki-67 slide, nuclei known"),
    "export": ("serving.export", "export a run into a Triton model repository"),
    "serve": ("serving.server", "start Triton on a model repository"),
    "client": ("serving.client", "query a served model"),
}


def usage() -> str:
    """The tool list `kerasg2c` prints."""
    width = max(map(len, TOOLS))
    lines = ["usage: kerasg2c TOOL [FLAGS...]   (kerasg2c TOOL --help: its flags)", "", "tools:"]
    lines += [f"  {name:<{width}}  {what}" for name, (_, what) in TOOLS.items()]
    lines += ["", "trainers: python -m trainers.<name> --config=configs/<name>.py"]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Runs `argv[1]`'s tool with the rest of `argv`; returns its exit code."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name = argv[1]
    if name not in TOOLS:
        print(f"kerasg2c: no tool {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = TOOLS[name][0]
    sys.argv = [f"kerasg2c {name}", *argv[2:]]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as e:  # absl and argparse exit with the tool's code
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if code == 1 and HELP_FLAGS & set(argv[2:]):
            return 0  # absl exits 1 after printing --help; the help was what was asked
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
