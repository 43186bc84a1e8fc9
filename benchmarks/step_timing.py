"""What every training-step benchmark shares: the runtime from its flags, one
distributed batch, warm-up then timed steps through the loop's own step
function, and the closing lines (`images/s: X` last)."""

import resource
import time

from absl import flags

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


def report(title: str, strategy, batch_size: int, warmup: float, per_step: float) -> None:
    import tensorflow as tf

    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(
        f"{title} jit={FLAGS.jit_compile} precision={FLAGS.mixed_precision or 'float32'} "
        f"replicas={strategy.num_replicas_in_sync} device={device}"
    )
    print(f"warm-up (2 steps, tracing included): {warmup:.1f} s")
    print(f"step time: {per_step * 1000:.1f} ms")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"images/s: {batch_size / per_step:.2f}")


def first_line(error) -> str:
    """The error's first informative line: TensorFlow's runtime errors open with "Graph
    execution error:" and where the failing op was defined, then say what failed."""
    skip = ("Graph execution error", "Detected at node", "<stack traces", "File ")
    for line in str(error).splitlines():
        line = line.strip()
        if line and not line.startswith(skip):
            return line[:300]
    return ""
