"""What every training-step benchmark shares: the runtime from its flags, one
distributed batch, warm-up then timed steps through the loop's own step
function, and the closing lines (`images/s: X` last). For the GAN benchmarks that
time one model in several configurations (--variants, in one process), also the flag,
its checks, the timing of each configuration and the lines and table they print."""

import gc
import resource
import time

from absl import app, flags

flags.DEFINE_integer("steps", 5, "timed steps (after 2 warm-up steps)")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the replica step")
flags.DEFINE_string("mixed_precision", "", "'' | mixed_float16 | mixed_bfloat16")
flags.DEFINE_integer("num_cpu_replicas", 0, "virtual CPU replicas (MirroredStrategy)")
FLAGS = flags.FLAGS
# What --variants may name: (jit_compile, mixed-precision policy).
VARIANTS = {
    "graph": (False, "float32"),
    "xla": (True, "float32"),
    "bf16": (False, "mixed_bfloat16"),
    "xla_bf16": (True, "mixed_bfloat16"),
}


def configure():
    """The strategy for the flags (must run before TensorFlow starts its devices)."""
    from kerasg2c.jobs import shared_config
    from kerasg2c.training import runtime

    train = shared_config.base_config().train
    train.jit_compile, train.mixed_precision = FLAGS.jit_compile, FLAGS.mixed_precision
    train.num_cpu_replicas = FLAGS.num_cpu_replicas
    return runtime.configure(train, seed=0)


def step_runner(model, strategy, batch):
    """run(n) -> seconds for n steps of `model.train_step` on `batch` (one distributed
    batch, the loop's own step function, optimizers built first)."""
    import tensorflow as tf

    from kerasg2c.training import loop

    with strategy.scope():
        loop.build_optimizers(model)
    dataset = tf.data.Dataset.from_tensors(batch)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    step = loop.make_distributed_step(model, strategy, FLAGS.jit_compile)
    no_stop = tf.constant(0.0)

    def run(n):
        start = time.perf_counter()
        for _ in range(n):
            logs, _ = step(batch, no_stop)
        next(iter(logs.values())).numpy()  # wait for the last step
        return time.perf_counter() - start

    return run


def time_steps(model, strategy, batch) -> tuple[float, float]:
    """Returns (warm-up seconds, seconds per timed step) of `model.train_step` on `batch`."""
    run = step_runner(model, strategy, batch)
    return run(2), run(FLAGS.steps) / FLAGS.steps


def time_and_report(title: str, model, strategy, batch, batch_size: int) -> None:
    """Times `model.train_step` on `batch` (`time_steps`) and prints the figures: a line
    of `title` and the run's settings, the warm-up, the step time, peak resident memory
    and `images/s: X` (batch_size images per step) last."""
    warmup, per_step = time_steps(model, strategy, batch)
    print(
        f"{title} jit={FLAGS.jit_compile} precision={FLAGS.mixed_precision or 'float32'} "
        f"replicas={strategy.num_replicas_in_sync} device={_device()}"
    )
    print(f"warm-up (2 steps, tracing included): {warmup:.1f} s")
    print(f"step time: {per_step * 1000:.1f} ms")
    print(_peak_rss())
    print(f"images/s: {batch_size / per_step:.2f}")


def _device() -> str:
    import tensorflow as tf

    return "GPU" if tf.config.list_physical_devices("GPU") else "CPU"


def _peak_rss() -> str:
    return f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"


def _peak_gpu_memory() -> str:
    import tensorflow as tf

    peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
    return f"peak GPU memory: {peak / 2**20:.0f} MiB"


def define_variants_flag() -> None:
    """Defines --variants: names from VARIANTS, each timed in this process (see
    `time_configurations`) instead of the one run --jit_compile and --mixed_precision
    describe. Validate it with `check_variants`."""
    flags.DEFINE_list(
        "variants",
        [],
        f"time each of {', '.join(VARIANTS)} in this process and tabulate them (instead of "
        "--jit_compile and --mixed_precision)",
    )


def check_variants() -> None:
    """Raises app.UsageError for a --variants name not in VARIANTS, or --variants with
    --jit_compile or --mixed_precision."""
    unknown = [v for v in FLAGS.variants if v not in VARIANTS]
    if unknown:
        raise app.UsageError(f"--variants: {unknown} not among {list(VARIANTS)}")
    if FLAGS.variants and (FLAGS.jit_compile or FLAGS.mixed_precision):
        raise app.UsageError("--variants replaces --jit_compile and --mixed_precision")


def time_built_model(build, strategy, data, jit_compile: bool, precision: str):
    """Builds a model (`build()`, under the strategy's scope) with `precision` as the Keras
    global dtype policy and times its step on `data`, the replica step jit-compiled as
    `jit_compile` says: the first step (its trace) on its own, one untimed step (anything
    the first left to do), then --steps. Returns (model, first-step seconds, seconds per
    timed step)."""
    import keras

    keras.mixed_precision.set_global_policy(precision)
    FLAGS.jit_compile = jit_compile  # step_runner reads it
    with strategy.scope():
        model = build()
    run = step_runner(model, strategy, data)
    first = run(1)
    run(1)
    return model, first, run(FLAGS.steps) / FLAGS.steps


def time_configurations(header: str, strategy, build, data, params, images_per_step: int):
    """Times the model `build()` makes (`time_built_model`) and prints its figures; returns
    the images/s of each configuration that ran.

    Without --variants, one run as --jit_compile and --mixed_precision say: `header` with
    the settings, `params(model)` (a line), the first-step time, the step time, peak
    resident memory, peak GPU memory (on a GPU) and `images/s: X` last. With --variants,
    `header`, then per variant (each its own model, the policy back to float32 and the
    session cleared after it) `<variant>: ... images/s: X` (`params(model)` after the
    first that runs) or `<variant>: ... failed: ` and the error's first informative line,
    and the next variant runs; then peak resident memory and a table of all of them."""
    import keras

    device = _device()
    if not FLAGS.variants:
        precision = FLAGS.mixed_precision or "float32"
        model, first, per_step = time_built_model(
            build, strategy, data, FLAGS.jit_compile, precision
        )
        print(
            f"{header} jit={FLAGS.jit_compile} precision={precision} "
            f"replicas={strategy.num_replicas_in_sync} device={device}"
        )
        print(params(model))
        print(f"first step (tracing included): {first:.1f} s")
        print(f"step time: {per_step * 1000:.1f} ms ({FLAGS.steps} steps)")
        print(_peak_rss())
        if device == "GPU":
            print(_peak_gpu_memory())
        rate = images_per_step / per_step
        print(f"images/s: {rate:.2f}")
        return [rate]

    import tensorflow as tf

    print(f"{header} replicas={strategy.num_replicas_in_sync} device={device}", flush=True)
    rows, described = [], False
    for name in FLAGS.variants:
        jit_compile, precision = VARIANTS[name]
        if device == "GPU":
            tf.config.experimental.reset_memory_stats("GPU:0")
        model = None
        try:
            model, first, per_step = time_built_model(build, strategy, data, jit_compile, precision)
        except Exception as e:  # a variant that fails is reported, and the next one runs
            result = f"failed: {type(e).__name__}: {first_line(e)}"
            print(f"{name}: jit={jit_compile} precision={precision} {result}", flush=True)
            rows.append((name, jit_compile, precision, result))
        else:
            if not described:
                print(params(model))
                described = True
            gpu = f" {_peak_gpu_memory()}," if device == "GPU" else ""
            rate = images_per_step / per_step
            print(
                f"{name}: jit={jit_compile} precision={precision} first step (tracing "
                f"included) {first:.1f} s, step time {per_step * 1000:.1f} ms "
                f"({FLAGS.steps} steps),{gpu} images/s: {rate:.2f}",
                flush=True,
            )
            rows.append((name, jit_compile, precision, (first, per_step, rate)))
        finally:
            keras.mixed_precision.set_global_policy("float32")
            del model
            keras.backend.clear_session()
            gc.collect()
    print(_peak_rss())
    print(
        f"{'variant':<10} {'jit':<5} {'precision':<15} {'first step s':>12} {'step ms':>9} "
        f"{'images/s':>9}"
    )
    rates = []
    for name, jit_compile, precision, result in rows:
        if isinstance(result, str):
            figures = f"  {result}"
        else:
            first, per_step, rate = result
            figures = f" {first:>12.1f} {per_step * 1000:>9.1f} {rate:>9.2f}"
            rates.append(rate)
        print(f"{name:<10} {str(jit_compile):<5} {precision:<15}{figures}")
    return rates


def first_line(error) -> str:
    """The error's first informative line: TensorFlow's runtime errors open with "Graph
    execution error:" and where the failing op was defined, then say what failed."""
    skip = ("Graph execution error", "Detected at node", "<stack traces", "File ")
    for line in str(error).splitlines():
        line = line.strip()
        if line and not line.startswith(skip):
            return line[:300]
    return ""
