"""InfoWGAN-GP's generator G(c, z) (Hu et al., "Unsupervised learning for cell-level
visual representation in histopathology images with generative adversarial networks", IEEE
JBHI 2019, §III-A, Fig. 3; the authors' PyTorch code for the sizes the paper leaves out).

It makes images in [−1, 1] (its tanh range); `InfoWGANGP` maps real images from [0, 1]."""

import keras
from keras import ops

MIN_IMAGE_SIZE = 16


def _batch_norm(name):
    # PyTorch's BatchNorm2d defaults (momentum 0.1 there is 0.9 here), synchronised so
    # that N replicas normalise over the global batch as one device does.
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name=name)


class _UpBlock(keras.layers.Layer):
    """Generator residual block (Fig. 3c, "up"): BN, ReLU, 3×3 conv, BN, ReLU,
    nearest-neighbour ×2 up-sampling, 3×3 conv; shortcut: up-sampling, 1×1 conv."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.norm1 = _batch_norm("bn1")
        self.conv1 = keras.layers.Conv2D(filters, 3, padding="same", name="conv1")
        self.norm2 = _batch_norm("bn2")
        self.upsample = keras.layers.UpSampling2D(2, interpolation="nearest", name="upsample")
        self.conv2 = keras.layers.Conv2D(filters, 3, padding="same", name="conv2")
        self.shortcut = keras.layers.Conv2D(filters, 1, name="shortcut")

    def call(self, x, training=None):
        shortcut = self.shortcut(self.upsample(x))
        h = self.conv1(ops.relu(self.norm1(x, training=training)))
        h = self.conv2(self.upsample(ops.relu(self.norm2(h, training=training))))
        return h + shortcut


def check_image_size(image_size):
    """Refuses an image size the networks cannot make: a power of two ≥ 16 (the generator
    doubles a 4×4 map; the critic's features pool each block's output to 4×4)."""
    size = int(image_size)
    if size != image_size or size < MIN_IMAGE_SIZE or size & (size - 1):
        raise ValueError(f"image_size={image_size}: need a power of two ≥ {MIN_IMAGE_SIZE}")
    return size


@keras.saving.register_keras_serializable(package="kerasg2c")
class InfoWGANGenerator(keras.Model):
    """G(c, z): (class id, noise) → image in [−1, 1] (Hu et al. §III-A, Fig. 3a).

    The latent is concat(one-hot c, z) (c categorical with `categories` values, z ~ N(0, 1)
    of `noise_dim`); a dense layer maps it to 4 × 4 × channels, log2(image_size / 4)
    residual up-sampling blocks (BN, nearest-neighbour up-sampling; three for 32 × 32)
    double it to image_size, then BN, ReLU, a 3×3 conv to RGB and tanh. Every block
    keeps `channels` (128 in the reference code).

    Called as `generator(class_id [B] int, noise [B, noise_dim])`; outputs float32.
    Serving (`serving.export`): `serving_inputs()` declares a class id and the noise,
    `serving_outputs(class_id, noise)` returns the uint8 image.

    Args:
      categories: values of the categorical code c (k = 5 in the paper).
      noise_dim: length of z (32; 64 for the paper's combined dataset).
      channels: width of every block.
      image_size: side of the square output, a power of two ≥ 16.

    Examples:

    >>> import numpy as np
    >>> generator = InfoWGANGenerator(categories=3, noise_dim=4, channels=8, image_size=16)
    >>> tuple(generator(np.array([0, 2]), np.zeros((2, 4), "float32")).shape)
    (2, 16, 16, 3)
    """

    def __init__(self, categories=5, noise_dim=32, channels=128, image_size=32, **kwargs):
        super().__init__(**kwargs)
        for name, value, least in (
            ("categories", categories, 2),
            ("noise_dim", noise_dim, 1),
            ("channels", channels, 1),
        ):
            if value < least:
                raise ValueError(f"{name}={value}: need at least {least}")
        self.categories, self.noise_dim = categories, noise_dim
        self.channels, self.image_size = channels, check_image_size(image_size)
        self.dense = keras.layers.Dense(4 * 4 * channels, name="dense")
        n_up = self.image_size.bit_length() - 3  # 4 · 2^n_up = image_size
        self.blocks = [_UpBlock(channels, name=f"up{i + 1}") for i in range(n_up)]
        self.norm = _batch_norm("bn")
        self.to_rgb = keras.layers.Conv2D(3, 3, padding="same", name="to_rgb")

    def build(self, class_id_shape, noise_shape):
        """A symbolic pass builds every layer."""
        class_id = keras.KerasTensor(tuple(class_id_shape), dtype="int32")
        self.call(class_id, keras.KerasTensor(tuple(noise_shape)))

    def call(self, class_id, noise, training=None):
        one_hot = ops.one_hot(ops.cast(class_id, "int32"), self.categories, dtype=noise.dtype)
        x = self.dense(ops.concatenate([one_hot, noise], axis=-1))
        x = ops.reshape(x, (-1, 4, 4, self.channels))
        for block in self.blocks:
            x = block(x, training=training)
        x = self.to_rgb(ops.relu(self.norm(x, training=training)))
        return ops.tanh(ops.cast(x, "float32"))

    def generate(self, class_id, noise):
        """Images [B, S, S, 3] in [0, 1] (inference mode)."""
        return (self(class_id, ops.cast(noise, "float32"), training=False) + 1.0) / 2.0

    def serving_inputs(self):
        """What a server takes per example: a class id, an int32 scalar in
        [0, categories − 1], and the noise z, float32 [noise_dim] (z ~ N(0, 1))."""
        return {
            "class_id": ("int32", (), (0, self.categories - 1)),
            "noise": ("float32", (self.noise_dim,)),
        }

    def serving_outputs(self, class_id, noise):
        """The cell image of `generate` as round(x · 255), uint8 [B, S, S, 3]."""
        images = self.generate(class_id, noise)
        return {"image": ops.cast(ops.round(ops.clip(images, 0.0, 1.0) * 255.0), "uint8")}

    def get_config(self):
        return {
            **super().get_config(),
            "categories": self.categories,
            "noise_dim": self.noise_dim,
            "channels": self.channels,
            "image_size": self.image_size,
        }
