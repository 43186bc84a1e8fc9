"""Exports the models of a run into a Triton model repository (the `serving.export` CLI).

    python -m serving.export --workdir=runs/g2c --repository=model_repository \
        [--name=g2c] [--version=1] [--formats=savedmodel,onnx,python] \
        [--input_dtype=uint8] [--max_batch_size=32] [--preferred_batch_sizes=4,8,16] \
        [--max_queue_delay_us=1000] [--instance_kind=auto] [--instance_count=1] \
        [--max_pixels=67108864]

Exportable models of a run: `WORKDIR/model.keras` (classifier, G2C, HistoGAN's chosen
generator) and `WORKDIR/generators/<stain>.keras` (CycleGAN); see
`serving.export.exportables`. Models that take named inputs instead of images
(`serving_inputs()`): `serving.export.named_inputs`.

Per model and format, `REPO/<model>/config.pbtxt`, `REPO/<model>/<version>/...`,
`labels.txt` and `metadata.json` (`serving.export.layout`). Formats: `savedmodel`
(Triton's TensorFlow backend, Triton <= 25.02), `onnx` (tf2onnx, the onnxruntime backend;
model name suffixed `_onnx`), `python` (Triton's Python backend running the SavedModel in
this environment; suffix `_python`; runs on the CPU server of `serving.server`).

An image model's graph takes raw uint8 (or float32) pixels of any height and width, refuses
images of more than --max_pixels and resizes them as the training pipeline did
(`serving.export.images`). Every variant is run on a few inputs at export time and must
match the in-process Keras model; the maximum absolute differences are printed and written
to metadata.json, and the export fails past the tolerance (`serving.export.verify`).

Examples:

    python -m serving.export --workdir=runs/g2c --repository=runs/model_repository --name=g2c
    python -m serving.export --workdir=runs/cyclegan --repository=repo --formats=python \
        --instance_kind=cpu --max_pixels=4194304
"""

import os
import sys

from absl import app, flags

from serving import model_config
from serving.export import images, writer


def define_flags() -> None:
    """The CLI's flags (defined only when run as a program)."""
    flags.DEFINE_string("workdir", None, "Run directory to export.")
    flags.DEFINE_string("repository", None, "Triton model repository to write.")
    flags.DEFINE_string("name", None, "Model name (default: the run folder's name).")
    flags.DEFINE_integer("version", 1, "Model version folder.")
    flags.DEFINE_list("formats", list(writer.FORMATS), f"Any of {', '.join(writer.FORMATS)}.")
    flags.DEFINE_enum(
        "input_dtype", "uint8", ["uint8", "float32"], "uint8 in [0, 255] or float32 in [0, 1]."
    )
    flags.DEFINE_integer("max_batch_size", 32, "Triton max_batch_size.")
    flags.DEFINE_list("preferred_batch_sizes", ["4", "8", "16"], "Dynamic batching.")
    flags.DEFINE_integer("max_queue_delay_us", 1000, "Dynamic batching delay.")
    flags.DEFINE_enum(
        "instance_kind",
        "auto",
        ["auto", "gpu", "cpu"],
        "instance_group kind; auto = GPU for savedmodel/onnx, CPU for the Python backend.",
    )
    flags.DEFINE_integer("instance_count", 1, "Instances per device.")
    flags.DEFINE_integer(
        "max_pixels",
        images.MAX_PIXELS,
        "Largest height × width of a request's images; larger ones are refused.",
    )


def main(argv):
    """Exports --workdir into --repository; 0 done, 1 the export failed (message on stderr).

    Args:
        argv: the arguments absl leaves (none allowed).
    """
    FLAGS = flags.FLAGS
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.workdir or not FLAGS.repository:
        raise app.UsageError("--workdir and --repository are required")
    batching = model_config.Batching(
        max_batch_size=FLAGS.max_batch_size,
        preferred_batch_sizes=tuple(int(b) for b in FLAGS.preferred_batch_sizes),
        max_queue_delay_us=FLAGS.max_queue_delay_us,
        instance_kind="auto"
        if FLAGS.instance_kind == "auto"
        else f"KIND_{FLAGS.instance_kind.upper()}",
        instance_count=FLAGS.instance_count,
    )
    try:
        results = writer.export_run(
            FLAGS.workdir,
            FLAGS.repository,
            FLAGS.name,
            version=FLAGS.version,
            formats=tuple(FLAGS.formats),
            input_dtype=FLAGS.input_dtype,
            batching=batching,
            max_pixels=FLAGS.max_pixels,
        )
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name, diffs in results.items():
        worst = ", ".join(f"{k} {v:.3g}" for k, v in diffs.items())
        print(f"{name}: max |exported - Keras| {worst}")
    print(f"repository: {os.path.abspath(FLAGS.repository)}")
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
