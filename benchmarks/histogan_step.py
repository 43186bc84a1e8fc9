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
them closes. xla_bf16 compiles because the critic's self-attention pools and the
generator up-samples in float32 (XLA on CPU has neither derivative in bfloat16). It
replaces --jit_compile and --mixed_precision.
"""

from absl import app, flags

from benchmarks import step_timing

flags.DEFINE_integer("size", 96, "image size (last stage), a multiple of 16 · 2^(stages − 1)")
flags.DEFINE_integer("stages", 2, "generator stages (and critics)")
flags.DEFINE_integer("channels", 64, "generator and critic width (histogan.channels)")
flags.DEFINE_integer("batch", 4, "global batch per critic update (train.batch_size)")
flags.DEFINE_integer("n_critic", 5, "critic updates per generator update")
flags.DEFINE_enum("critic_norm", "batch", ["batch", "layer", "none"], "critic normalisation")
flags.DEFINE_integer("classes", 3, "classes of the condition")
step_timing.define_variants_flag()
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


def main(argv):
    del argv
    step_timing.check_variants()
    strategy = step_timing.configure()
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

    def build():
        return histogan_job.build_model(config, FLAGS.classes)

    step_timing.time_configurations(header, strategy, build, data, params, n_images)


if __name__ == "__main__":
    app.run(main)
