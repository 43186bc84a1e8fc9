"""InfoWGAN-GP's residual critic D, whose trunk the auxiliary network Q shares (Hu et
al., "Unsupervised learning for cell-level visual representation in histopathology images
with generative adversarial networks", IEEE JBHI 2019, §III-A, Fig. 3; the authors'
PyTorch code for the sizes the paper leaves out).

It reads images in [−1, 1] (the generator's tanh range); `InfoWGANGP` maps real images
from [0, 1]."""

import keras
from keras import ops

CRITIC_BLOCKS = 4  # first down, down, same, same (the reference critic)
FEATURE_GRID = 4  # critic_features: each block's output max-pooled to 4 × 4


class _CriticBlock(keras.layers.Layer):
    """Critic residual block without normalisation (Fig. 3c), one of three kinds:

      "first": conv, ReLU, conv, mean-pool; shortcut mean-pool, 1×1 conv (on the image,
        so no ReLU before the first conv);
      "down":  ReLU, conv, ReLU, conv, mean-pool; shortcut 1×1 conv, mean-pool;
      "same":  ReLU, conv, ReLU, conv; identity shortcut.

    Mean-pool is 2×2 average pooling with stride 2; convs are 3×3 with bias.
    """

    KINDS = ("first", "down", "same")

    def __init__(self, filters, kind, **kwargs):
        super().__init__(**kwargs)
        if kind not in self.KINDS:
            raise ValueError(f"kind={kind!r}: expected one of {self.KINDS}")
        self.kind = kind
        self.conv1 = keras.layers.Conv2D(filters, 3, padding="same", name="conv1")
        self.conv2 = keras.layers.Conv2D(filters, 3, padding="same", name="conv2")
        self.shortcut = None if kind == "same" else keras.layers.Conv2D(filters, 1, name="shortcut")

    def call(self, x):
        if self.kind == "first":
            h = self.conv2(ops.relu(self.conv1(x)))
            return _mean_pool(h) + self.shortcut(_mean_pool(x))
        h = self.conv2(ops.relu(self.conv1(ops.relu(x))))
        if self.kind == "down":
            return _mean_pool(h) + _mean_pool(self.shortcut(x))
        return h + x


def _mean_pool(x):
    return ops.average_pool(x, pool_size=2, strides=2, padding="valid")


@keras.saving.register_keras_serializable(package="kerasg2c")
class InfoWGANCritic(keras.Model):
    """The critic D and the auxiliary network Q on one trunk (Hu et al. §III-A, Fig. 3a).

    Trunk (no normalisation, so each score depends on its own image only, as the
    gradient penalty needs): four residual blocks of `channels` — "first" and "down"
    (mean-pool down-sampling, to 1/4 of the image side), then two "same" —, ReLU and the
    spatial mean, a [B, channels] feature. D's head is a bias-free dense scalar, Q's a dense layer
    over the categories (softmax: `category_logits` returns the logits). The trunk is
    built once; both heads read it.

    Called as `critic(images in [−1, 1])` → (scores [B, 1], category logits [B, k]),
    float32. `block_features` gives the paper's SVM features (§IV-B).

    Args:
      categories: outputs of Q.
      channels: width of every block (128 in the reference code).

    Examples:

    >>> import numpy as np
    >>> critic = InfoWGANCritic(categories=3, channels=8)
    >>> scores, logits = critic(np.zeros((2, 16, 16, 3), "float32"))
    >>> tuple(scores.shape), tuple(logits.shape)
    ((2, 1), (2, 3))
    >>> tuple(critic.block_features(np.zeros((2, 16, 16, 3), "float32")).shape)
    (2, 512)
    """

    def __init__(self, categories=5, channels=128, **kwargs):
        super().__init__(**kwargs)
        for name, value, least in (("categories", categories, 2), ("channels", channels, 1)):
            if value < least:
                raise ValueError(f"{name}={value}: need at least {least}")
        self.categories, self.channels = categories, channels
        kinds = ("first", "down", "same", "same")
        self.blocks = [
            _CriticBlock(channels, kind, name=f"block{i + 1}") for i, kind in enumerate(kinds)
        ]
        # No bias: it cancels in every WGAN loss and gets no gradient.
        self.score_head = keras.layers.Dense(1, use_bias=False, name="score")
        self.category_head = keras.layers.Dense(categories, name="category")

    def build(self, input_shape):
        """A symbolic pass builds every layer."""
        self.call(keras.KerasTensor(tuple(input_shape)))

    def call(self, images):
        features = self.features(images)
        return self._score(features), self._logits(features)

    def _blocks(self, images):
        outputs, x = [], images
        for block in self.blocks:
            x = block(x)
            outputs.append(x)
        return outputs

    def features(self, images):
        """The trunk's output: ReLU, then the mean over height and width, [B, channels]."""
        return ops.mean(ops.relu(self._blocks(images)[-1]), axis=(1, 2))

    def _score(self, features):
        return ops.cast(self.score_head(features), "float32")

    def _logits(self, features):
        return ops.cast(self.category_head(features), "float32")

    def score(self, images):
        """D(x), [B, 1] float32."""
        return self._score(self.features(images))

    def category_logits(self, images):
        """Q's logits over c, [B, categories] float32 (softmax gives Q(c | x))."""
        return self._logits(self.features(images))

    def block_features(self, images):
        """Each residual block's output max-pooled to a 4 × 4 grid, flattened and
        concatenated (§IV-B: 4 blocks × 16 × 128 = 8192 values at the paper's width), [B,
        4 · 16 · channels] float32. The image side must be a multiple of 16."""
        outputs = []
        for x in self._blocks(images):
            side = x.shape[1]
            if side is None or side % FEATURE_GRID or x.shape[2] != side:
                raise ValueError(
                    f"images of side {images.shape[1]}: block features need a square side "
                    f"that is a multiple of {4 * FEATURE_GRID}"
                )
            pool = side // FEATURE_GRID
            pooled = ops.max_pool(x, pool_size=pool, strides=pool, padding="valid")
            outputs.append(ops.reshape(pooled, (-1, FEATURE_GRID * FEATURE_GRID * self.channels)))
        return ops.cast(ops.concatenate(outputs, axis=-1), "float32")

    @property
    def trunk_variables(self):
        return [v for block in self.blocks for v in block.trainable_variables]

    @property
    def score_variables(self):
        return self.score_head.trainable_variables

    @property
    def category_variables(self):
        return self.category_head.trainable_variables

    def get_config(self):
        return {**super().get_config(), "categories": self.categories, "channels": self.channels}
