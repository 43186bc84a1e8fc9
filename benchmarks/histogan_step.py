"""Throughput of one full HistoGAN training step: n_critic critic updates (every stage's
critic on real and generated images, each with its gradient penalty) and one generator
update, through the same distributed step the training loop uses.

    python -m benchmarks.histogan_step --size=96 --stages=2 --channels=64 --batch=4 \
        --n_critic=5 --steps=3 [--critic_norm=batch|layer|none] \
        [--jit_compile] [--mixed_precision=mixed_float16|mixed_bfloat16] \
        [--variants=graph,xla,bf16]

The networks are `histogan_job.build_model`'s for configs/histogan.py with the flags'
keys (the other keys: the config's defaults); the flags' defaults are PCam's 96 px from
a 2-stage generator at width 64 (the config, sized for a CPU, has 16). A step reads
n_critic × batch real images (one sub-batch of --batch per critic update), so an image
in `images/s` is one real image consumed: images/s = n_critic · batch / step time. The
n_critic updates are unrolled into one graph, so the first step (its trace) is slow and
timed on its own; one more untimed step follows before the timed ones. Random inputs (no
data on disk); prints the parameter counts, the first-step time, the step time, peak
resident memory (and peak GPU memory on a GPU) and `images/s: X` as the last line.

--variants times several configurations of the same networks one after the other in
this process, so their figures compare: graph (float32, tf.function), xla (float32, the
replica step jit-compiled), bf16 (Keras policy mixed_bfloat16: bfloat16 compute, float32
variables; images, scores, losses and the gradient penalty stay float32), xla_bf16. Each
builds its own model and prints `<variant>: ... images/s: X` (or `<variant>: failed: `
and the error's first informative line, and the next variant runs); a table of all of
them closes. On a CPU, xla_bf16 fails: XLA_CPU has no bfloat16 MaxPoolGradGrad (the
gradient penalty's second derivative through the critic's self-attention pooling).
It replaces --jit_compile and --mixed_precision.
"""

import gc
import resource

from absl import app, flags

from benchmarks import step_timing

flags.DEFINE_integer("size", 96, "image size (last stage), a multiple of 16 · 2^(stages − 1)")
flags.DEFINE_integer("stages", 2, "generator stages (and critics)")
flags.DEFINE_integer("channels", 64, "generator and critic width (histogan.channels)")
flags.DEFINE_integer("batch", 4, "global batch per critic update (train.batch_size)")
flags.DEFINE_integer("n_critic", 5, "critic updates per generator update")
flags.DEFINE_enum("critic_norm", "batch", ["batch", "layer", "none"], "critic normalisation")
flags.DEFINE_integer("classes", 3, "classes of the condition")
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
    """configs/histogan.py with the networks the flags describe."""
    from kerasg2c.jobs import config_files

    config = config_files.load("configs/histogan.py")
    config.data.image_size = FLAGS.size
    h = config.histogan
    h.n_stages, h.channels, h.n_critic = FLAGS.stages, FLAGS.channels, FLAGS.n_critic
    h.critic_norm = FLAGS.critic_norm
    config.train.batch_size = FLAGS.batch
    return config


def time_model(strategy, config, data, jit_compile, precision):
    """Builds the networks under `precision` (a Keras dtype policy) and times their step;
    returns (model, first-step seconds, seconds per timed step)."""
    import keras

    from kerasg2c.jobs import histogan_job

    keras.mixed_precision.set_global_policy(precision)
    # step_timing.step_runner jit-compiles the replica step as --jit_compile says.
    FLAGS.jit_compile = jit_compile
    with strategy.scope():
        model = histogan_job.build_model(config, FLAGS.classes)
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

    from kerasg2c.jobs import histogan_job

    config = model_config()
    histogan_job.base_shape(config)  # a clear error for a size the stages cannot make
    n_images = FLAGS.n_critic * FLAGS.batch
    shape = (n_images, FLAGS.size, FLAGS.size, 3)
    data = (
        tf.random.uniform(shape, seed=1),
        tf.random.uniform((n_images,), maxval=FLAGS.classes, dtype=tf.int32, seed=2),
    )
    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    h = config.histogan
    header = (
        f"histogan step: size={FLAGS.size} stages={FLAGS.stages} channels={FLAGS.channels} "
        f"noise_dim={h.noise_dim} res_blocks={h.res_blocks} "
        f"minibatch_kernels={h.minibatch_kernels} critic_norm={FLAGS.critic_norm} "
        f"batch={FLAGS.batch} n_critic={FLAGS.n_critic} ({n_images} real images per step)"
    )

    def count(networks):
        return sum(int(tf.size(w)) for n in networks for w in n.trainable_weights)

    def params(model):
        generator, critics = count([model.generator]), count(model.critics)
        return (
            f"params: generator {generator:,}, critics {critics:,} "
            f"({', '.join(f'{count([c]):,}' for c in model.critics)}), "
            f"total {generator + critics:,}"
        )

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
        if device == "GPU":
            peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
            print(f"peak GPU memory: {peak / 2**20:.0f} MiB")
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
            gpu = ""
            if device == "GPU":
                peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
                gpu = f" peak GPU memory {peak / 2**20:.0f} MiB,"
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
    for name, jit_compile, precision, result in rows:
        if isinstance(result, str):
            figures = f"  {result}"
        else:
            first, per_step, rate = result
            figures = f" {first:>12.1f} {per_step * 1000:>9.1f} {rate:>9.2f}"
        print(f"{name:<10} {str(jit_compile):<5} {precision:<15}{figures}")


if __name__ == "__main__":
    app.run(main)
