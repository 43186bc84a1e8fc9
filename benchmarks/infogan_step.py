"""Throughput of one full InfoWGAN-GP training step: n_critic critic updates (each with its
gradient penalty), one generator update and one Q update, through the same distributed
step the training loop uses.

    python -m benchmarks.infogan_step --batch=64 --steps=5 [--channels=128] [--n_critic=5] \
        [--size=32] [--jit_compile] [--mixed_precision=mixed_bfloat16] \
        [--variants=graph,xla,bf16]

The model is `infogan_job.build_model`'s for configs/infogan.py with the flags' keys (the
other keys: the config's defaults); the flags' defaults are the paper's sizes (32 px
cells, width 128, n_critic 5). A step reads n_critic × batch real cells (one sub-batch of
--batch per critic update), so an image in `images/s` is one real cell the critic sees:
images/s = n_critic · batch / step time. The first step (its trace) is timed on its own;
one more untimed step follows before the timed ones. Random inputs (no data on disk);
prints the parameter counts, the first-step time, the step time, peak resident memory
(and peak GPU memory on a GPU) and `images/s: X` as the last line.

--variants times several configurations one after the other in this process, so their
figures compare: graph (float32, tf.function), xla (the replica step jit-compiled), bf16
(Keras policy mixed_bfloat16), xla_bf16; a variant that fails is reported and the next
one runs; a table closes (its last line `images/s: X` of the fastest variant). It
replaces --jit_compile and --mixed_precision.

The nuclei pipeline (segmentation and crops per tile, no model) has its own benchmark:
`python -m benchmarks.nuclei_pipeline`.
"""

import gc
import resource

from absl import app, flags

from benchmarks import step_timing

flags.DEFINE_integer("size", 32, "cell image side, a power of two ≥ 16")
flags.DEFINE_integer("channels", 128, "width of every residual block (infogan.channels)")
flags.DEFINE_integer("batch", 64, "global batch per critic update (train.batch_size)")
flags.DEFINE_integer("n_critic", 5, "critic updates per generator update")
flags.DEFINE_integer("categories", 5, "values of the categorical code")
flags.DEFINE_integer("noise_dim", 32, "length of the noise z")
# name → (jit_compile, Keras dtype policy)
VARIANTS = step_timing.VARIANTS
flags.DEFINE_list(
    "variants",
    [],
    f"time each of {', '.join(VARIANTS)} in this process and tabulate them (instead of "
    "--jit_compile and --mixed_precision)",
)
FLAGS = flags.FLAGS
FLAGS.set_default("steps", 3)


def model_config():
    """configs/infogan.py with the model the flags describe."""
    from kerasg2c.jobs import config_files

    config = config_files.load("configs/infogan.py")
    config.data.image_size = FLAGS.size
    i = config.infogan
    i.channels, i.n_critic = FLAGS.channels, FLAGS.n_critic
    i.categories, i.noise_dim = FLAGS.categories, FLAGS.noise_dim
    config.train.batch_size = FLAGS.batch
    return config


def time_model(strategy, config, data, jit_compile, precision):
    """Builds the model under `precision` and times its step; returns (model, first-step
    seconds, seconds per timed step)."""
    import keras

    from kerasg2c.jobs import infogan_job

    keras.mixed_precision.set_global_policy(precision)
    FLAGS.jit_compile = jit_compile  # step_timing.step_runner reads it
    with strategy.scope():
        model = infogan_job.build_model(config)
    run = step_timing.step_runner(model, strategy, data)
    first = run(1)
    run(1)  # untimed: anything the first step left to do
    return model, first, run(FLAGS.steps) / FLAGS.steps


def main(argv):
    del argv
    unknown = [v for v in FLAGS.variants if v not in VARIANTS]
    if unknown:
        raise app.UsageError(f"--variants: {unknown} not among {list(VARIANTS)}")
    if FLAGS.variants and (FLAGS.jit_compile or FLAGS.mixed_precision):
        raise app.UsageError("--variants replaces --jit_compile and --mixed_precision")
    strategy = step_timing.configure()
    import keras
    import tensorflow as tf

    config = model_config()
    n_images = FLAGS.n_critic * FLAGS.batch
    data = tf.random.uniform((n_images, FLAGS.size, FLAGS.size, 3), seed=1)
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    header = (
        f"infogan step: size={FLAGS.size} channels={FLAGS.channels} "
        f"categories={FLAGS.categories} noise_dim={FLAGS.noise_dim} batch={FLAGS.batch} "
        f"n_critic={FLAGS.n_critic} ({n_images} real images per step)"
    )

    def params(model):
        def count(network):
            return sum(int(tf.size(w)) for w in network.trainable_weights)

        g, c = count(model.generator), count(model.critic)
        return f"params: generator {g:,}, critic (D and Q) {c:,}, total {g + c:,}"

    def gpu_peak():
        if device != "GPU":
            return ""
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
        return f"peak GPU memory: {peak / 2**20:.0f} MiB"

    def peak_rss():
        return f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"

    if not FLAGS.variants:
        precision = FLAGS.mixed_precision or "float32"
        model, first, per_step = time_model(strategy, config, data, FLAGS.jit_compile, precision)
        print(
            f"{header} jit={FLAGS.jit_compile} precision={precision} "
            f"replicas={strategy.num_replicas_in_sync} device={device}"
        )
        print(params(model))
        print(f"first step (tracing included): {first:.1f} s")
        print(f"step time: {per_step * 1000:.1f} ms ({FLAGS.steps} steps)")
        print(peak_rss())
        if gpu_peak():
            print(gpu_peak())
        print(f"images/s: {n_images / per_step:.2f}")
        return

    print(f"{header} replicas={strategy.num_replicas_in_sync} device={device}", flush=True)
    rows, described = [], False
    for name in FLAGS.variants:
        jit_compile, precision = VARIANTS[name]
        if device == "GPU":
            tf.config.experimental.reset_memory_stats("GPU:0")
        model = None
        try:
            model, first, per_step = time_model(strategy, config, data, jit_compile, precision)
        except Exception as e:  # a variant that fails is reported, and the next one runs
            result = f"failed: {type(e).__name__}: {step_timing.first_line(e)}"
            print(f"{name}: jit={jit_compile} precision={precision} {result}", flush=True)
            rows.append((name, jit_compile, precision, result))
        else:
            if not described:
                print(params(model))
                described = True
            gpu = f" {gpu_peak()}," if gpu_peak() else ""
            rate = n_images / per_step
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
    print(peak_rss())
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
    if rates:
        print(f"images/s: {max(rates):.2f}")


if __name__ == "__main__":
    app.run(main)
