"""Whole-slide translation throughput and memory (`python -m kerasg2c.tools.translate`).

    python -m benchmarks.translate_slide [--sizes=2048,4096] [--window=512] [--ngf=64]
        [--n_blocks=9] [--generator=PATH] [--normalization=window|kernel] [--blend=hann]

Writes a PAS phantom slide of each size (`data.slide_phantoms`, not timed) and a fresh
`ResnetGenerator(ngf, n_blocks)` (or uses --generator), then runs the translation CLI on
each slide in a child process. Per size: windows and windows/s of the generator passes
(after each pass's first batch, which traces; both passes with KIN),
output tiles/s (all pyramid levels), the child's wall time and peak RSS (`os.wait4`; it
should not grow with the slide), and the fraction of the conv peak reached: generator
FLOPs per window (TensorFlow's profiler on the traced [1, W, W, 3] call) × windows/s
(× 2 passes with KIN) over the FLOP/s of a timed 3 × 3, 256 → 256 Conv2D on the
generator's 1/4-resolution maps of a batch (this process, same device), and the share of
the generator ceiling: the same generator on batches of windows held in memory (no reading
or writing), in windows/s, against the generator passes and against the whole translation
with its pyramid ("end to end"). Last line `images/s: X`, the windows/s of the largest
slide.
"""

import os
import re
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_list("sizes", ["2048", "4096"], "slide sides in pixels")
flags.DEFINE_integer("window", 512, "--window of the translation")
flags.DEFINE_integer("batch_size", 4, "--batch_size of the translation")
flags.DEFINE_integer("ngf", 64, "fresh generator's ngf (ignored with --generator)")
flags.DEFINE_integer("n_blocks", 9, "fresh generator's residual blocks")
flags.DEFINE_string("generator", "", "a generator .keras file instead of a fresh one")
flags.DEFINE_enum("blend", "hann", ["hann", "none"], "--blend")
flags.DEFINE_enum("normalization", "window", ["window", "kernel"], "--normalization")
flags.DEFINE_integer("peak_steps", 10, "timed steps of the peak Conv2D")
flags.DEFINE_string("workdir", "", "where slides and outputs go (default: a temp folder)")
FLAGS = flags.FLAGS


def write_phantom(path, size):
    """The PAS rendering of a slide phantom only (the input the translation reads)."""
    from kerasg2c.phantoms import slides as slide_phantoms
    from kerasg2c.slides import pyramid

    plan = slide_phantoms.make_plan(0, size, size)
    tile = slide_phantoms.TILE_SIZE

    def read_tile(row, col):
        y, x = row * tile, col * tile
        return slide_phantoms.render_region(
            plan, "PAS", y, x, min(tile, size - y), min(tile, size - x)
        )

    pyramid.write_pyramid(path, read_tile, size, size, tile_size=tile)


def generator_flops(model, window) -> float:
    """FLOPs of one [1, window, window, 3] forward pass, by TensorFlow's profiler."""
    import tensorflow as tf

    traced = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, window, window, 3])
    )
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return float(tf.compat.v1.profiler.profile(graph=traced.graph, options=options).total_float_ops)


def _seconds_per_call(fn) -> float:
    """Seconds per call of the tf.function `fn()` (returning a tensor), after one call that
    traces and warms up; --peak_steps calls timed, the last one waited for."""
    fn().numpy()
    started = time.perf_counter()
    for _ in range(FLAGS.peak_steps - 1):
        fn()
    fn().numpy()
    return (time.perf_counter() - started) / FLAGS.peak_steps


def conv_peak(batch, side) -> float:
    """FLOP/s of a 3 × 3, 256 → 256 Conv2D on [batch, side, side, 256]."""
    import tensorflow as tf

    x = tf.random.normal([batch, side, side, 256])
    kernel = tf.random.normal([3, 3, 256, 256])
    conv = tf.function(lambda: tf.reduce_sum(tf.nn.conv2d(x, kernel, 1, "SAME")))
    return 2.0 * batch * side * side * 9 * 256 * 256 / _seconds_per_call(conv)


def generator_ceiling(model, batch, window) -> float:
    """Windows/s of the translation's own replica computation (uint8 → [-1, 1], the
    generator, float16 out) on `batch` windows held in memory: the ceiling a slide
    translation reaches when reading and writing cost nothing."""
    import tensorflow as tf

    images = tf.random.uniform([batch, window, window, 3], 0, 256, tf.int32)
    images = tf.cast(images, tf.uint8)
    step = tf.function(
        lambda: tf.cast(
            model(tf.cast(images, tf.float32) / 127.5 - 1.0, training=False), tf.float16
        )
    )
    return batch / _seconds_per_call(step)


def translate(generator, slide, output) -> dict:
    """Runs the CLI in a child; its stage lines, wall time and peak RSS (MiB)."""
    args = [
        sys.executable, "-m", "kerasg2c.tools.translate", f"--generator={generator}",
        f"--input={slide}", f"--output={output}", f"--window={FLAGS.window}",
        f"--batch_size={FLAGS.batch_size}", f"--blend={FLAGS.blend}",
        f"--normalization={FLAGS.normalization}",
    ]  # fmt: skip
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(args, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode:
        sys.exit(f"translation of {slide} failed ({child.returncode}):\n{stderr[-3000:]}")
    stages = {
        stage: (int(n), float(s), float(steady or 0))
        for stage, n, s, steady in re.findall(
            r"^(\w+): (\d+) \w+ in ([0-9.]+) s [^;\n]*(?:; ([0-9.]+) \w+/s after)?", stdout, re.M
        )
    }
    return {"stages": stages, "wall": seconds, "rss": usage.ru_maxrss / 1024}


def main(argv):
    del argv
    import keras

    from kerasg2c.models import ResnetGenerator

    workdir = FLAGS.workdir or tempfile.mkdtemp(prefix="translate_slide_")
    os.makedirs(workdir, exist_ok=True)
    generator = FLAGS.generator
    if generator:
        import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)

        model = keras.saving.load_model(generator, compile=False)
        described = generator
    else:
        model = ResnetGenerator(ngf=FLAGS.ngf, n_blocks=FLAGS.n_blocks)
        model(keras.ops.zeros((1, 64, 64, 3)))
        generator = os.path.join(workdir, "generator.keras")
        model.save(generator)
        described = f"fresh ResnetGenerator(ngf={FLAGS.ngf}, n_blocks={FLAGS.n_blocks})"
    flops = generator_flops(model, FLAGS.window)
    peak = conv_peak(FLAGS.batch_size, FLAGS.window // 4)
    passes = 2 if FLAGS.normalization == "kernel" else 1
    ceiling = generator_ceiling(model, FLAGS.batch_size, FLAGS.window) / passes
    print(
        f"translate_slide: {described}, window {FLAGS.window}, blend {FLAGS.blend}, "
        f"normalization {FLAGS.normalization}, batch {FLAGS.batch_size}, "
        f"device {'GPU' if _has_gpu() else 'CPU'}"
    )
    print(
        f"generator: {flops / 1e9:.1f} GFLOP per window (profiler); "
        f"conv peak {peak / 1e12:.3f} TFLOP/s; generator ceiling (batches of "
        f"{FLAGS.batch_size} windows in memory) {ceiling:.2f} windows/s"
    )
    rate = 0.0
    for size in (int(s) for s in FLAGS.sizes):
        slide = os.path.join(workdir, f"PAS_{size}.tif")
        if not os.path.exists(slide):
            write_phantom(slide, size)
        result = translate(generator, slide, os.path.join(workdir, f"out_{size}.tif"))
        windows = result["stages"]["windows"][0]
        # Steady-state windows/s of the generator passes (the first batch traces).
        rate = 1 / sum(
            1 / r[2] if r[2] else r[1] / r[0] for k, r in result["stages"].items() if k != "tiles"
        )
        tiles, tile_seconds, _ = result["stages"]["tiles"]
        end_to_end = windows / sum(r[1] for r in result["stages"].values())
        print(
            f"{size} x {size}: {windows} windows at {rate:.2f} windows/s "
            f"({passes} pass(es)), {tiles / tile_seconds:.1f} tiles/s ({tiles} tiles), "
            f"child {result['wall']:.1f} s, peak RSS {result['rss']:.0f} MiB, "
            f"{100 * flops * passes * rate / peak:.1f} % of conv peak, "
            f"{100 * rate / ceiling:.1f} % of the generator ceiling "
            f"({100 * end_to_end / ceiling:.1f} % end to end, with the pyramid)"
        )
    print(f"images/s: {rate:.2f}")


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


if __name__ == "__main__":
    app.run(main)
