"""HistoGAN's model selection (HistoGAN paper §3.1.2, step 3 of `histogan_job`): the FID
of each epoch's generator against the real training images, on the feature extractor's
pooled features, smoothed by the paper's EMA; the epoch of lowest smoothed FID is kept
(`best_generator.keras`, `fid.json`, `fid_curve.png`). Also the per-epoch class × sample
grids of every stage (`samples/`).
"""

import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from kerasg2c import json_files
from kerasg2c.evaluation import frechet, model_selection, samples


class FIDSelection:
    """Step 3: scores the generator after each epoch past the warm-up and keeps the one of
    lowest EMA-smoothed FID; its state (`fid.json`) survives a resume."""

    def __init__(self, config, workdir, extractor, train_split, real_images):
        h = config.histogan
        self.warmup, self.alpha, self.workdir = h.fid_warmup_epochs, h.ema_alpha, workdir
        self.extractor, self.batch = extractor, config.train.batch_size
        self.state_path = os.path.join(workdir, "fid.json")
        self.best_path = os.path.join(workdir, "best_generator.keras")
        self.state = json_files.read_object(self.state_path, {"fid": {}})
        rng = np.random.default_rng(config.seed)
        self.labels = rng.choice(train_split.labels, h.fid_samples, replace=True)
        self.noise = rng.standard_normal((h.fid_samples, h.noise_dim)).astype(np.float32)
        self.real = frechet.feature_statistics(extractor.features, real_images, self.batch)

    @property
    def fid(self) -> dict:
        return {int(k): v for k, v in self.state["fid"].items()}

    def generate(self, generator):
        return np.concatenate(
            [
                generator.generate(self.labels[i : i + self.batch], self.noise[i : i + self.batch])
                for i in range(0, len(self.labels), self.batch)
            ]
        )

    def __call__(self, epoch, generator, chief) -> dict:
        """After epoch `epoch` (1-based): {} during the warm-up, else this epoch's FID and
        its smoothed value; saves the generator when it is the new best."""
        if epoch <= self.warmup:
            return {}
        fake = frechet.feature_statistics(self.extractor.features, self.generate(generator))
        fid = frechet.frechet_distance_from_statistics(*self.real, *fake)
        self.state["fid"][str(epoch)] = float(fid)
        best, smoothed = model_selection.select_epoch(self.fid, self.warmup, self.alpha)
        if chief:
            if best == epoch:
                generator.save(self.best_path)
            json_files.write(self.state_path, self.state)
        return {"fid": float(fid), "fid_smoothed": float(smoothed[epoch])}


def sample_grid(model, classes, workdir, epoch, step, per_class=6) -> None:
    """A class × sample grid of every stage's images (fixed noise), `samples/`."""
    n = len(classes)
    labels = np.repeat(np.arange(n, dtype=np.int32), per_class)
    noise = np.random.default_rng(0).standard_normal((len(labels), model.noise_dim))
    stages = model.generator((noise.astype(np.float32), labels), training=False)
    shape = tuple(stages[-1].shape[1:3])  # (height, width) of the last stage
    for k, images in enumerate(stages):
        images = tf.image.resize(images, shape, method="nearest").numpy()
        titles = [classes[i] if j == 0 else "" for i in range(n) for j in range(per_class)]
        name = f"stage{k + 1}_epoch{epoch:03d}"
        samples.write_image_grid(workdir, name, images, step, titles, columns=per_class)


def choose_generator(config, model, selection, chief) -> tuple[int, dict]:
    """After training: loads the generator of lowest smoothed FID into `model.generator`
    (the last one when no epoch was scored: `train.epochs` ≤ `histogan.fid_warmup_epochs`)
    and, on the chief, plots the FID curve.

    Args:
      config: the run's config (`histogan.*`, `train.epochs`).
      model: the trained HistoGAN.
      selection: the run's `FIDSelection`.
      chief: whether this worker writes files.

    Returns:
      (the chosen epoch, {epoch: smoothed FID}; {} when no epoch was scored).
    """
    h = config.histogan
    fid = selection.fid
    if fid:
        chosen, smoothed = model_selection.select_epoch(fid, h.fid_warmup_epochs, h.ema_alpha)
        model.generator.set_weights(keras.saving.load_model(selection.best_path).get_weights())
    else:
        logging.warning(
            "train.epochs=%d ≤ histogan.fid_warmup_epochs=%d: no epoch was scored; the last "
            "generator is used",
            config.train.epochs,
            h.fid_warmup_epochs,
        )
        chosen, smoothed = config.train.epochs, {}
        if chief:
            model.generator.save(selection.best_path)
    if chief and fid:
        model_selection.plot_fid_curve(
            fid,
            smoothed,
            chosen,
            os.path.join(selection.workdir, "fid_curve.png"),
            h.fid_warmup_epochs,
        )
    return chosen, smoothed
