"""HistoGAN's multi-stage class-conditional generator (HistoGAN paper §3.1.1, Fig. 3,
§4.2.1)."""

import keras
from keras import ops

from kerasg2c.layers.conditional_batch_norm import ConditionalBatchNorm
from kerasg2c.layers.self_attention import SelfAttention

MIN_CHANNELS = 8  # SelfAttention needs C ≥ 8 (its query has C/8 channels)


class _UpBlock(keras.layers.Layer):
    """Bilinear ×2 up-sampling, 3×3 conv, conditional BN, ReLU (§4.2.1). The up-sampling
    runs in float32 under mixed precision (what TensorFlow's resize computes in anyway):
    XLA cannot compile the gradient of a bfloat16 resize."""

    def __init__(self, filters, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.upsample = keras.layers.UpSampling2D(
            2, interpolation="bilinear", dtype="float32", name="upsample"
        )
        self.conv = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv")
        self.norm = ConditionalBatchNorm(num_classes, name="cbn")

    def call(self, x, labels, training=None):
        x = ops.cast(self.upsample(x), self.compute_dtype)
        return ops.relu(self.norm(self.conv(x), labels, training=training))


class _ResidualBlock(keras.layers.Layer):
    """x + CBN(conv(ReLU(CBN(conv(x))))), 3×3 convs: StackGAN-v2's ResBlock with
    conditional BN and ReLU in place of its BN and GLU."""

    def __init__(self, filters, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv1")
        self.norm1 = ConditionalBatchNorm(num_classes, name="cbn1")
        self.conv2 = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name="conv2")
        self.norm2 = ConditionalBatchNorm(num_classes, name="cbn2")

    def call(self, x, labels, training=None):
        h = ops.relu(self.norm1(self.conv1(x), labels, training=training))
        return x + self.norm2(self.conv2(h), labels, training=training)


class _Refiner(keras.layers.Layer):
    """A later stage (§3.1.1): residual blocks on the previous stage's features, then
    one up-sampling block."""

    def __init__(self, channels, out_channels, res_blocks, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [
            _ResidualBlock(channels, num_classes, name=f"res{i + 1}") for i in range(res_blocks)
        ]
        self.up = _UpBlock(out_channels, num_classes, name="up")

    def call(self, x, labels, training=None):
        for block in self.blocks:
            x = block(x, labels, training=training)
        return self.up(x, labels, training=training)


@keras.saving.register_keras_serializable(package="kerasg2c")
class HistoGANGenerator(keras.Model):
    """(noise, class) → one image per stage, coarse to fine (HistoGAN §3.1.1, §4.2.1).

    Stage 1: concat(z, one-hot y) embedded by a transposed convolution to
    base_shape × 8·channels (then CBN, ReLU), four up-sampling blocks (bilinear ×2,
    3×3 conv, conditional BN, ReLU) halving the width, self-attention on the
    resulting features ("right after the first stage"), a 3×3 conv to RGB. Stage
    k > 1 takes "the output of the previous stage" as its features (StackGAN-v2's
    h_{k−1}; the words also allow the image, HistoGAN §3.1.1), so the attended
    stage-1 features reach every later stage: `res_blocks` residual blocks, one
    up-sampling block halving the width, its own to-RGB conv. Widths never drop
    below max(8, channels // 4).

    Images are (tanh(x) + 1) / 2, in [0, 1], float32; stage k (1-based) is
    base_shape · 16 · 2^(k−1): (3, 3) and 2 stages give 48² and 96² (PCam); (4, 2)
    and 3 stages 64×32, 128×64, 256×128 (cervical).

    Called as `generator((noise [B, noise_dim], labels [B] int class ids))`.

    Args:
      num_classes: classes of the condition.
      noise_dim: length of z ~ N(0, 1).
      base_shape: (height, width) of the embedded input, 1/16 of stage 1's image.
      channels: the embedding has 8·channels, halved by each up-sampling block (stage
        1 ends with channels // 2).
      n_stages: number of stages (images).
      res_blocks: residual blocks at the start of each later stage.

    Examples:

    >>> import numpy as np
    >>> generator = HistoGANGenerator(2, noise_dim=8, base_shape=(1, 1), channels=8, n_stages=2)
    >>> images = generator((np.zeros((2, 8), "float32"), np.array([0, 1])))
    >>> [tuple(image.shape) for image in images]
    [(2, 16, 16, 3), (2, 32, 32, 3)]
    """

    def __init__(
        self,
        num_classes,
        noise_dim=128,
        base_shape=(3, 3),
        channels=64,
        n_stages=2,
        res_blocks=2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        base_shape = tuple(int(s) for s in base_shape)
        if len(base_shape) != 2 or min(base_shape) < 1:
            raise ValueError(f"base_shape={base_shape}: expected (height, width), both ≥ 1")
        for name, value, least in (
            ("num_classes", num_classes, 1),
            ("noise_dim", noise_dim, 1),
            ("channels", channels, 1),
            ("n_stages", n_stages, 1),
            ("res_blocks", res_blocks, 0),
        ):
            if value < least:
                raise ValueError(f"{name}={value}: need at least {least}")
        self.num_classes, self.noise_dim, self.base_shape = num_classes, noise_dim, base_shape
        self.channels, self.n_stages, self.res_blocks = channels, n_stages, res_blocks
        floor = max(MIN_CHANNELS, channels // 4)
        width = 8 * channels
        self.embed = keras.layers.Conv2DTranspose(width, base_shape, use_bias=False, name="embed")
        self.embed_norm = ConditionalBatchNorm(num_classes, name="embed_cbn")
        self.upsampling = []
        for i in range(4):
            width = max(width // 2, floor)
            self.upsampling.append(_UpBlock(width, num_classes, name=f"stage1_up{i + 1}"))
        self.attention = SelfAttention(name="stage1_attention")
        self.refiners = []
        for stage in range(2, n_stages + 1):
            out = max(width // 2, floor)
            self.refiners.append(
                _Refiner(width, out, res_blocks, num_classes, name=f"stage{stage}")
            )
            width = out
        self.to_rgb = [
            keras.layers.Conv2D(3, 3, padding="same", name=f"stage{k + 1}_to_rgb")
            for k in range(n_stages)
        ]

    def build(self, input_shape):
        """input_shape: (noise [B, noise_dim], labels [B]); a symbolic pass builds every layer."""
        noise_shape, labels_shape = input_shape
        labels = keras.KerasTensor(tuple(labels_shape), dtype="int32")
        self.call((keras.KerasTensor(tuple(noise_shape)), labels))

    def call(self, inputs, training=None):
        noise, labels = inputs
        labels = ops.cast(labels, "int32")
        one_hot = ops.one_hot(labels, self.num_classes, dtype=noise.dtype)
        x = ops.concatenate([noise, one_hot], axis=-1)[:, None, None, :]
        x = ops.relu(self.embed_norm(self.embed(x), labels, training=training))
        for block in self.upsampling:
            x = block(x, labels, training=training)
        x = self.attention(x)
        images = [self._image(0, x)]
        for k, refiner in enumerate(self.refiners, start=1):
            x = refiner(x, labels, training=training)
            images.append(self._image(k, x))
        return images

    def _image(self, stage, features):
        return (ops.tanh(ops.cast(self.to_rgb[stage](features), "float32")) + 1.0) / 2.0

    def generate(self, labels, noise):
        """The last stage's images [B, H, W, 3] in [0, 1] (inference mode)."""
        return self((noise, labels), training=False)[-1]

    def serving_inputs(self):
        """What a server takes per example (`serving.export`): a class id, an int32 scalar
        in [0, num_classes − 1], and the noise z, float32 [noise_dim] (z ~ N(0, 1))."""
        return {
            "class_id": ("int32", (), (0, self.num_classes - 1)),
            "noise": ("float32", (self.noise_dim,)),
        }

    def serving_outputs(self, class_id, noise):
        """What a server returns for class ids [B] and noise [B, noise_dim]: the last
        stage's image, round(x · 255) of `generate`, uint8 [B, H, W, 3]."""
        images = self.generate(class_id, ops.cast(noise, "float32"))
        return {"image": ops.cast(ops.round(ops.clip(images, 0.0, 1.0) * 255.0), "uint8")}

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "noise_dim": self.noise_dim,
            "base_shape": self.base_shape,
            "channels": self.channels,
            "n_stages": self.n_stages,
            "res_blocks": self.res_blocks,
        }
