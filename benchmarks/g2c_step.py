"""Throughput of one G2C training step per variant, in one process so the figures compare
(G2C papers, arXiv §3.2 / AAAI §Formulation: PAS_ONLY is one branch; PAS_ALL+ adds three
generators, three branches and the cross-stain attention). The generators are trainable (the
joint phase after the freeze).

    python -m benchmarks.g2c_step --size=224 --batch=8 --steps=3 \
        [--variants=PAS_ONLY,PAS_ALL,PAS_ALL_PLUS] [--ngf=64 --n_blocks=9] \
        [--widths=64,128,256,512 --stem_width=64] [--jit_compile] [--mixed_precision=...]

Random inputs and randomly initialised generators (the step costs the same); prints one
block per variant and `images/s: X` for each.
"""

from absl import app, flags

from benchmarks import step_timing

flags.DEFINE_integer("size", 224, "image size")
flags.DEFINE_integer("batch", 8, "global batch size")
flags.DEFINE_list("variants", ["PAS_ONLY", "PAS_ALL_PLUS"], "G2C variants (kerasg2c.jobs.g2c_job)")
flags.DEFINE_list("widths", ["64", "128", "256", "512"], "down-sampling unit widths")
flags.DEFINE_integer("stem_width", 64, "stem block width")
flags.DEFINE_integer("ngf", 64, "generator filters (the papers' CycleGAN: 64)")
flags.DEFINE_integer("n_blocks", 9, "generator residual blocks (the papers' CycleGAN: 9)")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    strategy = step_timing.configure()
    import keras
    import tensorflow as tf

    from kerasg2c.jobs.g2c_job import VARIANTS
    from kerasg2c.models.g2c import G2C
    from kerasg2c.models.resnet_generator import ResnetGenerator
    from kerasg2c.training import runtime

    images = tf.random.uniform((FLAGS.batch, FLAGS.size, FLAGS.size, 3))
    labels = tf.random.uniform((FLAGS.batch,), maxval=3, dtype=tf.int32)
    for variant in FLAGS.variants:
        if variant not in VARIANTS:
            raise app.UsageError(f"--variants: {variant!r} is none of {list(VARIANTS)}")
        stains, attention = VARIANTS[variant]
        with strategy.scope():
            generators = [ResnetGenerator(ngf=FLAGS.ngf, n_blocks=FLAGS.n_blocks) for _ in stains]
            model = G2C(
                generators,
                3,
                widths=[int(w) for w in FLAGS.widths],
                stem_width=FLAGS.stem_width,
                attention=attention,
            )
            model(tf.zeros((1, FLAGS.size, FLAGS.size, 3)))
            model.compile(runtime.optimizer_for_precision(keras.optimizers.SGD(0.01, momentum=0.5)))
        counts = model.parameter_counts()
        step_timing.time_and_report(
            f"G2C {variant} step: size={FLAGS.size} batch={FLAGS.batch} "
            f"params={counts['total']:,} (generators {counts['generators']:,}, "
            f"attention {counts['attention']:,})",
            model,
            strategy,
            (images, labels),
            FLAGS.batch,
        )


if __name__ == "__main__":
    app.run(main)
