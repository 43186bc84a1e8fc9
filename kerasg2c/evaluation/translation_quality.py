"""How well a stain translator (a CycleGAN's g_m) does on an evaluation split.

With ground truth (`paired/`, phantoms) the score is SSIM of g_m(x) against the true
target-stain image, reported in a fidelity table beside the identity and Reinhard
baselines; without it, the Fréchet distance between features of translated and real
target patches (the FID computation on other features). Both report the
cycle-reconstruction error ‖ĝ(g(x)) − x‖₁ of a translator that has ĝ.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasg2c.data import pipeline
from kerasg2c.evaluation import fidelity, frechet, samples
from kerasg2c.models.stem_resnet import StemResNet
from kerasg2c.pathology import reinhard as stain_transfer


def translate(model, split, image_size: int, batch_size: int) -> dict:
    """Source, g_m(x) and ĝ_m(g_m(x)) of every image of `split`, in [0, 1].

    `model`: a CycleGAN (its `generator_ab`, `generator_ba` and class conditioning), or a
    translator whose `generator_ba` is None (a `PairedTranslator`): no "reconstructed"."""
    n = model.num_classes

    def condition(images, labels):
        return model.with_class(images, tf.one_hot(labels, n) if n else None)

    cycle = model.generator_ba is not None
    out = {"source": [], "translated": [], **({"reconstructed": []} if cycle else {})}
    ds = split.dataset(batch_size=batch_size, image_size=image_size, value_range="symmetric")
    for images, labels in ds:
        fake = model.generator_ab(condition(images, labels), training=False)
        batch = {"source": images, "translated": fake}
        if cycle:
            batch["reconstructed"] = model.generator_ba(condition(fake, labels), training=False)
        for key, value in batch.items():
            out[key].append((np.asarray(value) + 1.0) / 2.0)
    return {k: np.clip(np.concatenate(v), 0.0, 1.0) for k, v in out.items()}


class TranslationScore:
    """Scores a translator on one evaluation split, with or without ground truth.

    With truth: the fidelity table (SSIM, PSNR, colour error of g_m(x), the identity and
    Reinhard baselines); the selection score is mean SSIM. Without: Fréchet distance
    between features of g_m(x) and of real target patches, and the cycle-reconstruction
    error; the score is minus the distance.

    Args:
      split: (source split, its aligned truth split or None).
      image_size, batch_size: how images are read.
      extract_features: images [N, S, S, 3] in [0, 1] -> features [N, D].
      target_stats: the target stain's LAB statistics (Reinhard baseline).
      reference_features: Fréchet statistics of real target patches (used without truth).
    """

    def __init__(
        self, split, image_size, batch_size, extract_features, target_stats, reference_features
    ):
        self.x, truth = split
        self.image_size, self.batch_size = image_size, batch_size
        self.truth = None if truth is None else pipeline.load_images(truth, image_size)
        self.target_stats, self.reference_features = target_stats, reference_features
        self.extract = extract_features

    def __call__(self, model) -> tuple[float, dict, dict]:
        """Returns (selection score, metrics, the translated images)."""
        images = translate(model, self.x, self.image_size, self.batch_size)
        cycle = {}  # none without a way back (a translator trained on pairs)
        if "reconstructed" in images:
            error = frechet.cycle_reconstruction_error(images["source"], images["reconstructed"])
            cycle["cycle_reconstruction_error"] = float(np.mean(error))
        if self.truth is not None:
            reinhard = stain_transfer.reinhard_transfer(images["source"], *self.target_stats)
            table = fidelity.fidelity_table(
                images["translated"], self.truth, images["source"], reinhard=reinhard
            )
            table.update(cycle)
            return table["model"]["ssim"]["mean"], table, images
        translated = frechet.feature_statistics(self.extract, images["translated"], 64)
        distance = frechet.frechet_distance_from_statistics(*translated, *self.reference_features)
        metrics = {"frechet_distance": distance, **cycle}
        return -distance, metrics, images

    def grid(self, images, workdir, name, step, n=6) -> None:
        """Rows: source, translated, reconstructed (if any; and the true target stain)."""
        index = np.unique(np.linspace(0, len(self.x) - 1, n).round().astype(int))
        rows = {k: images[k] for k in ("source", "translated", "reconstructed") if k in images}
        if self.truth is not None:
            rows["true target"] = self.truth
        tiles = np.concatenate([row[index] for row in rows.values()])
        titles = [name if j == 0 else "" for name in rows for j in range(len(index))]
        samples.write_image_grid(workdir, name, tiles, step, titles, columns=len(index))


def headline(metrics: dict) -> dict:
    """The translator's own validation figures, for the history (the baselines' do not
    change between epochs)."""
    out = {f"val_{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    for name, value in metrics.get("model", {}).items():
        out[f"val_{name}"] = float(value["mean"])
    out.pop("val_n", None)
    out.pop("val_psnr_cap_db", None)
    return out


def feature_extractor(seed: int):
    """Features for the Fréchet distance: a fixed, seeded, randomly initialised
    stem-block ResNet, globally pooled (no pretrained weights can be fetched; random
    convolutional features still separate colour and texture statistics)."""
    keras.utils.set_random_seed(seed)
    backbone = StemResNet(widths=(16, 32, 64), blocks_per_unit=1, stem_width=16)
    pool = keras.layers.GlobalAveragePooling2D()
    forward = tf.function(lambda x: pool(backbone(x, training=False)), reduce_retracing=True)
    return lambda images: forward(tf.convert_to_tensor(images, tf.float32)).numpy()
