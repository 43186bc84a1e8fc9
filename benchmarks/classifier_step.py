"""Throughput of one classifier training step (forward, focal loss, backward,
SGD update), through the same distributed step the training loop uses.

    python -m benchmarks.classifier_step --size=224 --batch=32 --steps=10 \
        [--jit_compile] [--mixed_precision=mixed_bfloat16] [--widths=64,128,256,512]

Random inputs (no data on disk), timed after warm-up; prints images/s and
peak resident memory, and `images/s: X` as the last line.
"""

import resource
import time

from absl import app, flags

flags.DEFINE_integer("size", 224, "image size")
flags.DEFINE_integer("batch", 32, "global batch size")
flags.DEFINE_integer("steps", 10, "timed steps (after 2 warm-up steps)")
flags.DEFINE_bool("jit_compile", False, "XLA-compile the step")
flags.DEFINE_string("mixed_precision", "", "'' | mixed_float16 | mixed_bfloat16")
flags.DEFINE_list("widths", ["64", "128", "256", "512"], "down-sampling unit widths")
flags.DEFINE_integer("stem_width", 64, "stem block width")
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

    from kerasg2c.models.classifier import Classifier

    with strategy.scope():
        model = Classifier(3, widths=[int(w) for w in FLAGS.widths], stem_width=FLAGS.stem_width)
        model(tf.zeros((1, FLAGS.size, FLAGS.size, 3)))
        model.optimizer = runtime.optimizer_for_precision(keras.optimizers.SGD(0.01, momentum=0.5))
        loop.build_optimizers(model)
    images = tf.random.uniform((FLAGS.batch, FLAGS.size, FLAGS.size, 3))
    labels = tf.random.uniform((FLAGS.batch,), maxval=3, dtype=tf.int32)
    batch = next(
        iter(
            strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors((images, labels)))
        )
    )
    step = loop.make_distributed_step(model, strategy, FLAGS.jit_compile)
    no_stop = tf.constant(0.0)
    for _ in range(2):
        step(batch, no_stop)[0]["loss"].numpy()
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
        logs, _ = step(batch, no_stop)
    logs["loss"].numpy()
    elapsed = time.perf_counter() - start
    params = sum(int(tf.size(w)) for w in model.trainable_weights)
    print(
        f"classifier step: size={FLAGS.size} batch={FLAGS.batch} jit={FLAGS.jit_compile} "
        f"precision={FLAGS.mixed_precision or 'float32'} replicas={strategy.num_replicas_in_sync} "
        f"params={params:,}"
    )
    print(f"step time: {elapsed / FLAGS.steps * 1000:.1f} ms")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"images/s: {FLAGS.batch * FLAGS.steps / elapsed:.1f}")


if __name__ == "__main__":
    app.run(main)
