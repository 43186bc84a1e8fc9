"""Throughput of one CycleGAN training step (both generators forward, cycle and
identity passes, both discriminators on real and pooled fakes, all losses, both
Adam updates), through the same distributed step the training loop uses.

    python -m benchmarks.cyclegan_step --size=256 --batch=1 --ngf=64 --blocks=9 --steps=5 \
        [--jit_compile] [--mixed_precision=mixed_float16|mixed_bfloat16] \
        [--upsampling=deconv3|deconv4] [--discriminator=patchgan|ihc]

The defaults are the reference CycleGAN (ResNet-9 generators, 70×70 PatchGANs,
batch 1 at 256², pool of 50). Random inputs (no data on disk), timed after
warm-up; prints the parameter counts, step time, peak resident memory and
`images/s: X` as the last line, where an image is one (A, B) pair.
"""

from absl import app, flags

from benchmarks import step_timing

flags.DEFINE_integer("size", 256, "image size")
flags.DEFINE_integer("batch", 1, "global batch size (pairs of A and B images)")
flags.DEFINE_integer("ngf", 64, "generator width")
flags.DEFINE_integer("blocks", 9, "generator residual blocks")
flags.DEFINE_integer("ndf", 64, "discriminator width")
flags.DEFINE_enum("upsampling", "deconv3", ["deconv3", "deconv4"], "generator up-sampling")
flags.DEFINE_enum("discriminator", "patchgan", ["patchgan", "ihc"], "discriminator variant")
flags.DEFINE_integer("pool_size", 50, "image pool size")
FLAGS = flags.FLAGS


def model_config():
    """configs/cyclegan.py with the networks the flags describe."""
    from kerasg2c.jobs import config_files

    config = config_files.load("configs/cyclegan.py")
    config.data.image_size = FLAGS.size
    m = config.model
    m.ngf, m.n_blocks, m.ndf, m.pool_size = FLAGS.ngf, FLAGS.blocks, FLAGS.ndf, FLAGS.pool_size
    m.upsampling, m.discriminator = FLAGS.upsampling, FLAGS.discriminator
    return config


def main(argv):
    del argv
    strategy = step_timing.configure()
    import tensorflow as tf

    from kerasg2c.jobs import cyclegan_job

    config = model_config()
    with strategy.scope():
        model = cyclegan_job.build_model(config, num_classes=0)
        model.compile(*cyclegan_job.make_optimizers(config.optimizer, steps_per_epoch=1))
    shape = (FLAGS.batch, FLAGS.size, FLAGS.size, 3)
    pair = (tf.random.uniform(shape, -1, 1), tf.random.uniform(shape, -1, 1))

    def count(network):
        return sum(int(tf.size(w)) for w in network.trainable_weights)

    generator, discriminator = count(model.generator_ab), count(model.discriminator_a)
    step_timing.time_and_report(
        f"cyclegan step: size={FLAGS.size} batch={FLAGS.batch} ngf={FLAGS.ngf} "
        f"blocks={FLAGS.blocks} upsampling={FLAGS.upsampling} "
        f"discriminator={FLAGS.discriminator} params: generator {generator:,} x2, "
        f"discriminator {discriminator:,} x2, total {2 * (generator + discriminator):,}",
        model,
        strategy,
        pair,
        FLAGS.batch,
    )


if __name__ == "__main__":
    app.run(main)
