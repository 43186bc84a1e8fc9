"""Per-epoch picture of what a model does: a PNG grid under `workdir/samples/`
and the same grid in TensorBoard (GANs: generated images; classifiers:
validation patches titled true → predicted)."""

import os

import matplotlib.image
import tensorflow as tf

from kerasg2c.evaluation import plots


def write_image_grid(workdir, name, images, step, titles=None, columns=8) -> str:
    """Saves `images` ([N, H, W, 3] in [0, 1]) as `samples/<name>.png` and a
    TensorBoard image at `step`; returns the PNG path."""
    folder = os.path.join(workdir, "samples")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.png")
    plots.save_image_grid(images, path, titles=titles, columns=columns)
    grid = matplotlib.image.imread(path)[None, ..., :3]
    writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard", "samples"))
    with writer.as_default(step=step):
        tf.summary.image(name.split("_epoch")[0], grid)
    writer.close()
    return path
