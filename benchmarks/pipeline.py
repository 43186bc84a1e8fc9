"""Throughput of the input pipeline alone (no model): decode, resize, cache, augment, batch.

    python -m benchmarks.pipeline --size=224 --batch=64 --n=512 --epochs=3
    python -m benchmarks.pipeline --root=DATA_ROOT --size=224 --nocache

Without --root it writes --n noisy, blotchy --src×--src PNGs (roughly as compressible as
tissue) into a temporary DATA_ROOT. Each epoch is timed: the first decodes every file
(and fills the cache), the later ones read the cache unless --nocache. Prints images/s
per epoch and, last, `images/s: X`, the mean over the epochs after the first.
"""

import os
import tempfile
import time

import numpy as np
from absl import app, flags
from PIL import Image

from kerasg2c.data import pipeline

flags.DEFINE_string(
    "root", None, "DATA_ROOT to read (its labeled/train); default: write synthetic PNGs."
)
flags.DEFINE_integer("size", 224, "Image size after resizing.")
flags.DEFINE_integer("batch", 64, "Batch size.")
flags.DEFINE_integer("n", 512, "Synthetic images to write (without --root).")
flags.DEFINE_integer("src", 256, "Side of the synthetic images before resizing.")
flags.DEFINE_integer("epochs", 3, "Epochs to time.")
flags.DEFINE_bool("augment", True, "Random flips and colour jitter.")
flags.DEFINE_bool("cache", True, "Keep decoded, resized images in memory across epochs.")
FLAGS = flags.FLAGS


def write_synthetic(root, n, size, seed=0):
    """Writes n smooth-plus-noise RGB PNGs in two classes under root/labeled/train."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        directory = os.path.join(root, "labeled", "train", f"class{i % 2}")
        os.makedirs(directory, exist_ok=True)
        blotches = np.kron(
            rng.uniform(60, 230, (size // 16 + 1, size // 16 + 1, 3)), np.ones((16, 16, 1))
        )
        image = blotches[:size, :size] + rng.normal(0, 12, (size, size, 3))
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
            os.path.join(directory, f"p{i % 50}__{i}.png")
        )


def time_epochs(split, epochs, **kwargs):
    """images/s of each epoch of split.dataset(training=True, **kwargs)."""
    rates = []
    for epoch in range(epochs):
        start, count = time.perf_counter(), 0
        for images, _ in split.dataset(training=True, epoch=epoch, **kwargs):
            count += int(images.shape[0])
        rates.append(count / (time.perf_counter() - start))
        print(f"epoch {epoch}: {count} images, {rates[-1]:.1f} images/s", flush=True)
    return rates


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as tmp:
        root = FLAGS.root
        if root is None:
            root = tmp
            write_synthetic(root, FLAGS.n, FLAGS.src)
        start = time.perf_counter()
        split = pipeline.load_labeled_split(root, "train")
        print(
            f"scan: {len(split) / (time.perf_counter() - start):.1f} images/s "
            f"(cpus={os.cpu_count()})"
        )
        rates = time_epochs(
            split,
            FLAGS.epochs,
            batch_size=FLAGS.batch,
            image_size=FLAGS.size,
            augment=FLAGS.augment,
            cache=FLAGS.cache,
        )
    steady = rates[1:] or rates
    print(f"size={FLAGS.size} batch={FLAGS.batch} cache={FLAGS.cache} augment={FLAGS.augment}")
    print(f"images/s: {sum(steady) / len(steady):.1f}")


if __name__ == "__main__":
    app.run(main)
