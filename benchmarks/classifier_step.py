"""Throughput of one classifier training step (forward, focal loss, backward,
SGD update), through the same distributed step the training loop uses.

    python -m benchmarks.classifier_step --size=224 --batch=32 --steps=10 \
        [--jit_compile] [--mixed_precision=mixed_bfloat16] [--widths=64,128,256,512]

Random inputs (no data on disk), timed after warm-up; prints images/s and
peak resident memory, and `images/s: X` as the last line.
"""

from absl import app, flags

from benchmarks import step_timing

flags.DEFINE_integer("size", 224, "image size")
flags.DEFINE_integer("batch", 32, "global batch size")
flags.DEFINE_list("widths", ["64", "128", "256", "512"], "down-sampling unit widths")
flags.DEFINE_integer("stem_width", 64, "stem block width")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    strategy = step_timing.configure()
    import keras
    import tensorflow as tf

    from kerasg2c.models.classifier import Classifier
    from kerasg2c.training import runtime

    with strategy.scope():
        model = Classifier(3, widths=[int(w) for w in FLAGS.widths], stem_width=FLAGS.stem_width)
        model(tf.zeros((1, FLAGS.size, FLAGS.size, 3)))
        model.optimizer = runtime.optimizer_for_precision(keras.optimizers.SGD(0.01, momentum=0.5))
    images = tf.random.uniform((FLAGS.batch, FLAGS.size, FLAGS.size, 3))
    labels = tf.random.uniform((FLAGS.batch,), maxval=3, dtype=tf.int32)
    params = sum(int(tf.size(w)) for w in model.trainable_weights)
    step_timing.time_and_report(
        f"classifier step: size={FLAGS.size} batch={FLAGS.batch} params={params:,}",
        model,
        strategy,
        (images, labels),
        FLAGS.batch,
    )


if __name__ == "__main__":
    app.run(main)
