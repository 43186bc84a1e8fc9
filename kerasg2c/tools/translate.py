"""Translates a whole slide with a trained generator, without tile seams.

python -m kerasg2c.tools.translate --generator=runs/cyclegan/generators/HE.keras \\
    --input=SLIDE --output=OUT.tif [--level=0] [--window=512] [--blend=hann|none]
    [--normalization=window|kernel] [--kernel_sigma=1] [--batch_size=4] [--tile_size=256]
    [--tissue_only]
python -m kerasg2c.tools.translate --generator=... --manifest=CSV --out=DIR
    [--shard_index=0 --num_shards=1] [the same options]

Windows of --window pixels overlap by half and are blended by a partition of unity
(`kerasg2c.slides.blending`); with --normalization=kernel the generator's instance norms
use the Gaussian pool of neighbouring windows' statistics over --kernel_sigma windows
(0: the whole slide), kernelised instance normalisation (Ho et al., ECCV 2022). With
--tissue_only, windows without tissue are copied rather than translated, and the blend
keeps the boundary seamless (`kerasg2c.slides.glass_windows`). Window
outputs are kept in OUT.tif.parts/ until the pyramidal TIFF is written: rerun the same
command after an interruption to resume. Exit 2 with one line naming the file or flag
when one cannot be used. With --manifest (a CSV with a `slide` column, as
`kerasg2c slide-ki67` reads) each slide becomes `DIR/<slide name>/translated.tif`, a
finished slide (its `translate.json`) is skipped, a failed one is listed in
`DIR/failures-translate-<shard>-of-<N>.csv` (exit 1 at the end) and --num_shards processes
share the list.

Examples:

    kerasg2c translate --generator=runs/cyclegan/generators/HE.keras \\
        --input=data/slide/PAS.tif --output=data/slide_HE.tif
    kerasg2c translate --generator=runs/cyclegan/generators/HE.keras \\
        --input=data/slide/PAS.tif --output=data/slide_HE.tif \\
        --normalization=kernel --kernel_sigma=0
"""

import os
import sys

from absl import app, flags, logging

from kerasg2c.errors import MissingPathError, UserError

_GENERATOR = flags.DEFINE_string("generator", None, "A generator .keras file.")
_INPUT = flags.DEFINE_string("input", None, "The slide to translate (OpenSlide, TIFF, PNG).")
_OUTPUT = flags.DEFINE_string("output", None, "The pyramidal TIFF to write.")
_LEVEL = flags.DEFINE_integer("level", 0, "Slide level to translate.")
_WINDOW = flags.DEFINE_integer("window", 512, "Window side in pixels.")
_BLEND = flags.DEFINE_enum("blend", "hann", ["hann", "none"], "Overlap-blend or hard tiles.")
_NORMALIZATION = flags.DEFINE_enum(
    "normalization", "window", ["window", "kernel"], "Instance-norm statistics per window or KIN."
)
_KERNEL_SIGMA = flags.DEFINE_float(
    "kernel_sigma", 1.0, "KIN Gaussian width in windows; 0 = the whole slide's statistics."
)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 4, "Windows per step (over all replicas).")
_TILE_SIZE = flags.DEFINE_integer("tile_size", 256, "Tile side of the output TIFF.")
_TISSUE_ONLY = flags.DEFINE_bool(
    "tissue_only", False, "Run the generator on tissue windows only; copy the glass."
)
_TRACEBACK = flags.DEFINE_bool("traceback", False, "Show the traceback of a UserError.")
_MANIFEST = flags.DEFINE_string(
    "manifest", None, "CSV of slides ('slide' column) instead of --input; with --out."
)
_OUT = flags.DEFINE_string("out", None, "With --manifest: one sub-folder per slide.")
_SHARD_INDEX = flags.DEFINE_integer("shard_index", 0, "This process' shard of --manifest.")
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 1, "How many processes share --manifest.")
flags.mark_flags_as_required(["generator"])


def _check_paths():
    """Exactly one of --input with --output and --manifest with --out."""
    single, many = bool(_INPUT.value or _OUTPUT.value), bool(_MANIFEST.value or _OUT.value)
    if single == many:
        raise UserError("give --input with --output, or --manifest with --out")
    if single and not (_INPUT.value and _OUTPUT.value):
        raise UserError("--input and --output go together")
    if many and not (_MANIFEST.value and _OUT.value):
        raise UserError("--manifest and --out go together")


def run() -> dict:
    _check_paths()  # before TensorFlow starts: a flag mistake is answered at once
    from kerasg2c import quiet_start

    quiet_start.import_tensorflow()
    import keras

    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)
    from kerasg2c.slides import seamless
    from kerasg2c.training import runtime

    if not os.path.isfile(_GENERATOR.value):
        raise MissingPathError(f"--generator={_GENERATOR.value}: no such file")
    strategy = runtime.make_strategy("auto")
    with strategy.scope():
        try:
            model = keras.saving.load_model(_GENERATOR.value, compile=False)
        except Exception as e:  # Keras raises many kinds on a bad archive
            raise UserError(f"--generator={_GENERATOR.value}: cannot load it: {e}") from e
    check_generator(model, _GENERATOR.value)
    logging.info("%d replica(s)", strategy.num_replicas_in_sync)
    settings = dict(
        level=_LEVEL.value,
        window=_WINDOW.value,
        blend=_BLEND.value,
        normalization=_NORMALIZATION.value,
        kernel_sigma=_KERNEL_SIGMA.value,
        batch_size=_BATCH_SIZE.value,
        tile_size=_TILE_SIZE.value,
        strategy=strategy,
        tissue_only=_TISSUE_ONLY.value,
    )
    if not _MANIFEST.value:
        return seamless.translate_slide(model, _INPUT.value, _OUTPUT.value, **settings)
    from kerasg2c.slides import batch

    def translate(path, folder):
        output = os.path.join(folder, "translated.tif")
        summary = seamless.translate_slide(model, path, output, **settings)
        return {"output": output, "windows": summary["windows"],
                "glass_windows": summary["glass_windows"]}  # fmt: skip

    slides = batch.read_manifest(_MANIFEST.value)
    shards = dict(shard_index=_SHARD_INDEX.value, num_shards=_NUM_SHARDS.value)
    return {"batch": batch.run(slides, _OUT.value, "translate", translate, **shards)}


def check_generator(model, path) -> None:
    """Refuses a loaded model that is not an image-to-image generator: one of this
    package's other models (a classifier, a GAN or its critic, a noise-to-image generator)
    or a class-conditional generator (its input has class channels after the RGB ones).
    A model from elsewhere is taken as it is (the window check tries it).

    Raises:
      UserError: naming the file and what the model is.
    """
    from kerasg2c.models import ResnetGenerator

    kind = type(model).__name__
    if not isinstance(model, ResnetGenerator):
        if type(model).__module__.startswith("kerasg2c."):
            raise UserError(
                f"--generator={path}: a {kind}, not an image-to-image generator "
                "(a CycleGAN run's generators/<stain>.keras is one)"
            )
        return
    first = next(layer for layer in model._flatten_layers() if hasattr(layer, "kernel"))
    if first.kernel.shape[2] != 3:
        raise UserError(
            f"--generator={path}: a class-conditional generator ({first.kernel.shape[2] - 3} "
            "class channels after RGB); a slide is translated by an unconditional one"
        )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        summary = run()
    except UserError as e:
        if _TRACEBACK.value:
            raise
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    if "batch" in summary:
        result = summary["batch"]
        print(f"{len(result['done'])} translated, {len(result['skipped'])} finished before, "
              f"{len(result['failed'])} failed")  # fmt: skip
        if result["failed"]:
            print(f"see {result['failures']}", file=sys.stderr)
            return 1
        return 0
    height, width = summary["size"]
    for stage, seconds in summary["seconds"].items():
        done = summary["computed"].get(stage, summary.get("tiles"))
        unit = "tiles" if stage == "tiles" else "windows"
        steady = summary["steady"].get(stage)
        after = f"; {steady:.2f} {unit}/s after the first batch" if steady else ""
        print(
            f"{stage}: {done} {unit} in {seconds:.3f} s "
            f"({done / max(seconds, 1e-9):.2f} {unit}/s{after})"
        )
    glass = f", {summary['glass_windows']} of them glass, copied" if _TISSUE_ONLY.value else ""
    print(f"wrote {_OUTPUT.value} ({width} x {height}, {summary['windows']} windows{glass})")
    return 0


if __name__ == "__main__":
    app.run(main)
