"""Inputs and tiny networks for the GAN model and layer tests: seeded random arrays and
images; HistoGAN's generator and critic (stage 1 16×16, stage 2 32×32, 8 channels), the
model built and compiled, and a batch of labelled images."""

import keras
import numpy as np

from kerasg2c.models.histogan import HistoGAN, HistoGANCritic, HistoGANGenerator

NUM_CLASSES, NOISE_DIM = 3, 8


def normal(shape, seed=0) -> np.ndarray:
    """float32 draws of N(0, 1) of `shape`."""
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def uniform_images(n, size=16, channels=3, seed=0) -> np.ndarray:
    """n float32 images of size × size × channels, uniform in [-1, 1] (a generator's range)."""
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, channels)).astype("float32")


def tiny_generator(n_stages=2, num_classes=NUM_CLASSES):
    return HistoGANGenerator(
        num_classes, NOISE_DIM, base_shape=(1, 1), channels=8, n_stages=n_stages, res_blocks=1
    )


def tiny_critic(critic_norm="batch", num_classes=NUM_CLASSES):
    return HistoGANCritic(
        num_classes, channels=8, n_down=2, critic_norm=critic_norm, minibatch_kernels=4
    )


def tiny_histogan(critic_norm="batch", n_stages=2, num_classes=NUM_CLASSES, lr=1e-3, **kwargs):
    """Built (every variable) and compiled, its optimizers built."""
    model = HistoGAN(
        tiny_generator(n_stages, num_classes),
        [tiny_critic(critic_norm, num_classes) for _ in range(n_stages)],
        num_classes,
        NOISE_DIM,
        **kwargs,
    )
    model(np.zeros(1, "int32"))
    model.compile(keras.optimizers.Adam(lr, 0.5, 0.9), keras.optimizers.Adam(lr, 0.5, 0.9))
    model.build_optimizers()
    return model


def batch(n, size=32, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, (n, size, size, 3)).astype("float32")
    return images, rng.integers(0, NUM_CLASSES, n)
