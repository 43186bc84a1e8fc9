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

import resource
import time

from absl import app, flags

flags.DEFINE_integer("size", 256, "image size")
flags.DEFINE_integer("batch", 1, "global batch size (pairs of A and B images)")
flags.DEFINE_integer("steps", 5, "timed steps (after 2 warm-up steps)")
flags.DEFINE_integer("ngf", 64, "generator width")
flags.DEFINE_integer("blocks", 9, "generator residual blocks")
flags.DEFINE_integer("ndf", 64, "discriminator width")
flags.DEFINE_enum("upsampling", "deconv3", ["deconv3", "deconv4"], "generator up-sampling")
flags.DEFINE_enum("discriminator", "patchgan", ["patchgan", "ihc"], "discriminator variant")
flags.DEFINE_integer("pool_size", 50, "image pool size")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the step")
flags.DEFINE_string("mixed_precision", "", "'' | mixed_float16 | mixed_bfloat16")
flags.DEFINE_integer("num_cpu_replicas", 0, "virtual CPU replicas (MirroredStrategy)")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from configs import common

    train = common.base_config().train
    train.jit_compile, train.mixed_precision = FLAGS.jit_compile, FLAGS.mixed_precision
    train.num_cpu_replicas = FLAGS.num_cpu_replicas
    from kerasg2c.training import loop, runtime

    strategy = runtime.configure(train, seed=0)
    import keras
    import tensorflow as tf

    from kerasg2c.models.cyclegan import CycleGAN
    from kerasg2c.models.patch_discriminator import PatchDiscriminator
    from kerasg2c.models.resnet_generator import ResnetGenerator

    def generator(name):
        return ResnetGenerator(FLAGS.ngf, FLAGS.blocks, FLAGS.upsampling, name=name)

    def discriminator(name):
        return PatchDiscriminator(FLAGS.ndf, variant=FLAGS.discriminator, name=name)

    size = FLAGS.size
    with strategy.scope():
        model = CycleGAN(
            generator("generator_ab"),
            generator("generator_ba"),
            discriminator("discriminator_a"),
            discriminator("discriminator_b"),
            pool_size=FLAGS.pool_size,
        )
        model(tf.zeros((1, size, size, 3)))
        model.compile(
            keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)
        )
        loop.build_optimizers(model)
    shape = (FLAGS.batch, size, size, 3)
    pair = (tf.random.uniform(shape, -1, 1), tf.random.uniform(shape, -1, 1))
    batch = next(iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(pair))))
    step = loop.make_distributed_step(model, strategy, FLAGS.jit_compile)
    no_stop = tf.constant(0.0)
    start = time.perf_counter()
    for _ in range(2):
        step(batch, no_stop)[0]["g_loss"].numpy()
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
        logs, _ = step(batch, no_stop)
    logs["g_loss"].numpy()
    elapsed = time.perf_counter() - start

    def count(network):
        return sum(int(tf.size(w)) for w in network.trainable_weights)

    print(
        f"cyclegan step: size={size} batch={FLAGS.batch} ngf={FLAGS.ngf} blocks={FLAGS.blocks} "
        f"upsampling={FLAGS.upsampling} discriminator={FLAGS.discriminator} "
        f"jit={FLAGS.jit_compile} precision={FLAGS.mixed_precision or 'float32'} "
        f"replicas={strategy.num_replicas_in_sync} "
        f"device={'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}"
    )
    print(
        f"params: generator {count(model.generator_ab):,} ×2, "
        f"discriminator {count(model.discriminator_a):,} ×2, "
        f"total {count(model.generator_ab) * 2 + count(model.discriminator_a) * 2:,}"
    )
    print("losses: " + ", ".join(f"{k}={float(v):.4f}" for k, v in logs.items()))
    print(f"warm-up (trace + compile + 2 steps): {warmup:.1f} s")
    print(f"step time: {elapsed / FLAGS.steps * 1000:.1f} ms")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"images/s: {FLAGS.batch * FLAGS.steps / elapsed:.2f}")


if __name__ == "__main__":
    app.run(main)
