"""Throughput of HistoGAN's selective-augmentation scoring (HistoGAN paper §3.2,
Algorithm 1): `kerasg2c.augment.selective.select_class` with the MC-dropout feature
extractor (`kerasg2c.augment.feature_extractor.MCDropoutExtractor`) on a classifier of
configs/classifier.py's widths, as the HistoGAN job scores one class.

    python -m benchmarks.histogan_selection --size=64 --n=128 --batch=16 --passes=5 \
        [--widths=16,32,64 --blocks_per_unit=3 --stem_width=16] [--nogenerate]

Random images stand in for the generated ones (the scores cost the same for any pixels)
and for the class's real images: --n generated images, --n / 2 real ones, so that with
r = 0.5 the class keeps --n / 4 and `select_class` scores exactly --n (4·r·N_i). Each
generated image costs K = --passes forward passes for its mean entropy and K more for
its mean Eq. 6 distance (the per-block activations, unit-normalised, against the class
centroid); the centroid is one pass over the real images. The classifier is untrained
(random weights: the same cost). Every batch shape is traced before the timing.

Prints the time of the centroid and of the whole `select_class` call, and `images/s: X`
as the last line: generated images scored per second, the centroid included (the job
pays it once per class), generation excluded. Unless --nogenerate, the generation of
the same --n images by the job's generator (`histogan_job.class_generator`:
configs/histogan.py's generator at --size, per-image noise from the seed) is timed and
reported on its own line first.
"""

import resource
import time

import numpy as np
from absl import app, flags

flags.DEFINE_integer("size", 64, "image size")
flags.DEFINE_integer("n", 128, "generated images to score (a multiple of 4)")
flags.DEFINE_integer("batch", 16, "images per call (the job: train.batch_size)")
flags.DEFINE_integer("passes", 5, "K: MC-dropout passes for the entropy and for the distance")
flags.DEFINE_float("dropout", 0.5, "MC-dropout rate before the last residual block")
flags.DEFINE_integer("classes", 3, "classes of the classifier")
flags.DEFINE_list("widths", None, "unit widths (default: configs/classifier.py's)")
flags.DEFINE_integer("blocks_per_unit", None, "default: configs/classifier.py's")
flags.DEFINE_integer("stem_width", None, "default: configs/classifier.py's")
flags.DEFINE_bool("generate", True, "also time generating the images (HistoGAN generator)")
FLAGS = flags.FLAGS


def classifier_config():
    """configs/classifier.py's model keys, with any flags given."""
    from kerasg2c.jobs import config_files

    config = config_files.load("configs/classifier.py")
    m = config.model
    if FLAGS.widths:
        m.widths = tuple(int(w) for w in FLAGS.widths)
    if FLAGS.blocks_per_unit is not None:
        m.blocks_per_unit = FLAGS.blocks_per_unit
    if FLAGS.stem_width is not None:
        m.stem_width = FLAGS.stem_width
    return config


def time_generation(n):
    """Seconds to generate n images with the job's class generator (after a warm-up)."""
    from kerasg2c.jobs import config_files, histogan_job

    config = config_files.load("configs/histogan.py")
    config.data.image_size = FLAGS.size
    generator = histogan_job.build_model(config, FLAGS.classes).generator
    generate = histogan_job.class_generator(generator, 0, config.histogan.noise_dim, seed=0)
    batches = [np.arange(s, min(s + FLAGS.batch, n)) for s in range(0, n, FLAGS.batch)]
    for shape in {len(b) for b in batches}:
        generate(np.arange(shape))
    start = time.perf_counter()
    for indices in batches:
        generate(indices)
    return time.perf_counter() - start, config.histogan.channels


def main(argv):
    del argv
    if FLAGS.n < 4 or FLAGS.n % 4:
        raise app.UsageError(f"--n={FLAGS.n}: need a positive multiple of 4")
    import tensorflow as tf

    from kerasg2c.augment import selective
    from kerasg2c.augment.feature_extractor import MCDropoutExtractor
    from kerasg2c.errors import UserError
    from kerasg2c.jobs import classifier_job
    from kerasg2c.models.classifier import Classifier

    config = classifier_config()
    classifier = Classifier(FLAGS.classes, **classifier_job.branch_kwargs(config.model))
    classifier(tf.zeros((1, FLAGS.size, FLAGS.size, 3)), training=False)
    extractor = MCDropoutExtractor(classifier, rate=FLAGS.dropout, seed=0)
    params = sum(int(tf.size(w)) for w in classifier.trainable_weights)

    rng = np.random.default_rng(0)
    n_real = FLAGS.n // 2  # r = 0.5: keep n / 4, score 4 · keep = n
    shape = (FLAGS.size, FLAGS.size, 3)
    generated = rng.uniform(0, 1, (FLAGS.n, *shape)).astype(np.float32)
    real = rng.uniform(0, 1, (n_real, *shape)).astype(np.float32)

    def generate(indices):
        return generated[indices]

    # Trace every batch shape select_class will use (real and generated batches).
    shapes = {min(FLAGS.batch, k) for k in (n_real, FLAGS.n)}
    shapes |= {k % FLAGS.batch for k in (n_real, FLAGS.n)} - {0}
    for size in shapes:
        extractor.predict(generated[:size])
        extractor.layers(generated[:size])

    lines = []
    if FLAGS.generate:
        try:
            seconds, channels = time_generation(FLAGS.n)
        except UserError as error:  # a size the default 2-stage generator cannot make
            seconds, channels = None, str(error)
    if FLAGS.generate and seconds is None:
        lines.append(f"generation: not timed ({channels})")
    elif FLAGS.generate:
        lines.append(
            f"generation (histogan_job.class_generator, configs/histogan.py generator, "
            f"channels={channels}): {seconds:.2f} s for {FLAGS.n} images, "
            f"{FLAGS.n / seconds:.1f} images/s (not in the figure below)"
        )

    start = time.perf_counter()
    selective.class_centroid(extractor.layers, real, FLAGS.batch)
    centroid = time.perf_counter() - start
    start = time.perf_counter()
    selection = selective.select_class(
        generate,
        extractor.predict,
        extractor.layers,
        real,
        n_real,
        r=0.5,
        passes=FLAGS.passes,
        batch_size=FLAGS.batch,
    )
    total = time.perf_counter() - start
    assert len(selection.entropy) == FLAGS.n and len(selection.indices) == FLAGS.n // 4

    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    print(
        f"histogan selection: size={FLAGS.size} n={FLAGS.n} real={n_real} "
        f"kept={len(selection.indices)} batch={FLAGS.batch} K={FLAGS.passes} "
        f"(entropy and distance: {2 * FLAGS.passes} forward passes per image) "
        f"classifier widths={tuple(config.model.widths)} "
        f"blocks_per_unit={config.model.blocks_per_unit} stem_width={config.model.stem_width} "
        f"params={params:,} device={device}"
    )
    for line in lines:
        print(line)
    print(f"centroid ({n_real} real images, 1 pass): {centroid:.2f} s")
    print(f"select_class (centroid + {FLAGS.n} images scored): {total:.2f} s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"images/s: {FLAGS.n / total:.2f}")


if __name__ == "__main__":
    app.run(main)
