"""Throughput of one full InfoWGAN-GP training step: n_critic critic updates (each with its
gradient penalty), one generator update and one Q update, through the same distributed
step the training loop uses.

    python -m benchmarks.infowgan_step --batch=64 --steps=5 [--channels=128] [--n_critic=5] \
        [--size=32] [--jit_compile] [--mixed_precision=mixed_bfloat16] \
        [--variants=graph,xla,bf16]

The model is `infowgan_job.build_model`'s for configs/infowgan.py with the flags' keys (the
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

from absl import app, flags

from benchmarks import step_timing

flags.DEFINE_integer("size", 32, "cell image side, a power of two ≥ 16")
flags.DEFINE_integer("channels", 128, "width of every residual block (infogan.channels)")
flags.DEFINE_integer("batch", 64, "global batch per critic update (train.batch_size)")
flags.DEFINE_integer("n_critic", 5, "critic updates per generator update")
flags.DEFINE_integer("categories", 5, "values of the categorical code")
flags.DEFINE_integer("noise_dim", 32, "length of the noise z")
step_timing.define_variants_flag()
FLAGS = flags.FLAGS
FLAGS.set_default("steps", 3)


def model_config():
    """configs/infowgan.py with the model the flags describe."""
    from kerasg2c.jobs import config_files

    config = config_files.load("configs/infowgan.py")
    config.data.image_size = FLAGS.size
    i = config.infogan
    i.channels, i.n_critic = FLAGS.channels, FLAGS.n_critic
    i.categories, i.noise_dim = FLAGS.categories, FLAGS.noise_dim
    config.train.batch_size = FLAGS.batch
    return config


def main(argv):
    del argv
    step_timing.check_variants()
    strategy = step_timing.configure()
    import tensorflow as tf

    from kerasg2c.jobs import infowgan_job

    config = model_config()
    n_images = FLAGS.n_critic * FLAGS.batch
    data = tf.random.uniform((n_images, FLAGS.size, FLAGS.size, 3), seed=1)
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

    def build():
        return infowgan_job.build_model(config)

    rates = step_timing.time_configurations(header, strategy, build, data, params, n_images)
    if FLAGS.variants and rates:
        print(f"images/s: {max(rates):.2f}")  # the fastest variant's


if __name__ == "__main__":
    app.run(main)
