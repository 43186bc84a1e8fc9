"""HistoGAN's per-stage WGAN critic (HistoGAN paper §4.2.1)."""

import keras
from keras import ops

from kerasg2c.layers.conditional_batch_norm import ConditionalBatchNorm
from kerasg2c.layers.minibatch_discrimination import MinibatchDiscrimination
from kerasg2c.layers.patch_conv import PatchConv2D
from kerasg2c.layers.self_attention import SelfAttention
from kerasg2c.layers.spectral_normalization import StepSpectralNormalization

CRITIC_NORMS = ("batch", "layer", "none")


@keras.saving.register_keras_serializable(package="kerasg2c")
class HistoGANCritic(keras.Model):
    """(images in [0, 1], labels [B]) → WGAN critic scores [B, 1], float32; one per
    stage (HistoGAN §4.2.1).

    Images are mapped to [−1, 1], then `n_down` 4×4 stride-2 convs (widths channels,
    2·channels, … up to 8·channels), each followed by the normalisation and
    LeakyReLU(0.2); self-attention with spectrally normalised convs after the second
    one (SAGAN places it at mid resolution); a spectrally normalised 3×3 conv, the
    normalisation, LeakyReLU(0.2); global average pooling (any image size);
    minibatch discrimination; a bias-free dense score (a bias cancels in the WGAN
    loss). Convs followed by a normalisation have no bias. The convs are `PatchConv2D`:
    an output of at most 3 × 3 pixels (the deepest layers at small stages) is one matrix
    product, which XLA differentiates twice quickly (the gradient penalty). The spectral
    norms' power iteration advances in `power_iterate()`, which the training step calls
    once per critic update.

    critic_norm:
      "batch": the paper's critic: conditional BN after each down-sampling conv, BN
        after the 3×3 conv (both synchronised across replicas). Every score depends
        on the whole batch, so the gradient penalty pass uses the full critic, as the
        paper trains it, though WGAN-GP §4 advises against batch coupling.
      "layer": layer normalisation over (H, W, C) with per-channel γ, β (WGAN-GP's
        layer norm, `GroupNormalization(groups=1)`) in place of every BN; the class
        enters by a projection term, score += ⟨Embedding(y), h⟩ on the pooled
        features h (Miyato & Koyama 2018), since conditional BN is a BN.
      "none": no normalisation, projection conditioning.
    `minibatch=False` replaces the minibatch-discrimination features by zeros; in
    "layer" and "none" mode each score then depends on its own example only (the
    penalty pass of `HistoGAN.train_step`).

    Args:
      num_classes: classes of the condition.
      channels: width of the first conv.
      n_down: stride-2 convs.
      critic_norm: "batch", "layer" or "none".
      minibatch_kernels: closeness features of minibatch discrimination.

    Examples:

    >>> import numpy as np
    >>> critic = HistoGANCritic(2, channels=8, n_down=2, critic_norm="layer", minibatch_kernels=4)
    >>> tuple(critic(np.zeros((2, 16, 16, 3), "float32"), np.array([0, 1])).shape)
    (2, 1)
    """

    def __init__(
        self,
        num_classes,
        channels=64,
        n_down=4,
        critic_norm="batch",
        minibatch_kernels=32,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if critic_norm not in CRITIC_NORMS:
            raise ValueError(f"critic_norm={critic_norm!r}: expected one of {CRITIC_NORMS}")
        for name, value in (
            ("num_classes", num_classes),
            ("channels", channels),
            ("n_down", n_down),
            ("minibatch_kernels", minibatch_kernels),
        ):
            if value < 1:
                raise ValueError(f"{name}={value}: need at least 1")
        self.num_classes, self.channels, self.n_down = num_classes, channels, n_down
        self.critic_norm, self.minibatch_kernels = critic_norm, minibatch_kernels
        normalised = critic_norm != "none"
        widths = [channels * min(2**i, 8) for i in range(n_down)]
        self.down = [
            PatchConv2D(
                w, 4, strides=2, padding="same", use_bias=not normalised, name=f"down{i + 1}"
            )
            for i, w in enumerate(widths)
        ]
        self.down_norms = [self._norm(f"down{i + 1}_norm", True) for i in range(n_down)]
        self.attention_after = min(2, n_down)
        self.attention = SelfAttention(spectral_norm=True, name="attention")
        conv = PatchConv2D(widths[-1], 3, padding="same", use_bias=not normalised, name="conv")
        self.conv = StepSpectralNormalization(conv, name="conv_sn")
        self.conv_norm = self._norm("conv_norm", False)
        self.minibatch = MinibatchDiscrimination(minibatch_kernels, name="minibatch")
        self.score = keras.layers.Dense(1, use_bias=False, name="score")
        self.projection = (
            None
            if critic_norm == "batch"
            else keras.layers.Embedding(num_classes, widths[-1], name="projection")
        )

    def _norm(self, name, conditional):
        if self.critic_norm == "batch":
            if conditional:
                return ConditionalBatchNorm(self.num_classes, name=name)
            return keras.layers.BatchNormalization(
                momentum=0.9, epsilon=1e-5, synchronized=True, name=name
            )
        if self.critic_norm == "layer":
            return keras.layers.GroupNormalization(groups=1, epsilon=1e-5, name=name)
        return None

    def _normalise(self, norm, x, labels, training):
        if norm is None:
            return x
        if isinstance(norm, ConditionalBatchNorm):
            return norm(x, labels, training=training)
        return norm(x, training=training)

    def build(self, images_shape, labels_shape):
        """A symbolic pass builds every layer."""
        labels = keras.KerasTensor(tuple(labels_shape), dtype="int32")
        self.call(keras.KerasTensor(tuple(images_shape)), labels)

    def power_iterate(self):
        """Advances the spectral norms' power iteration; once per critic update."""
        self.attention.power_iterate()
        self.conv.power_iterate()

    def call(self, images, labels, training=None, minibatch=True):
        labels = ops.cast(labels, "int32")
        x = images * 2.0 - 1.0
        for i, (conv, norm) in enumerate(zip(self.down, self.down_norms), start=1):
            x = self._normalise(norm, conv(x), labels, training)
            x = ops.leaky_relu(x, negative_slope=0.2)
            if i == self.attention_after:
                x = self.attention(x, training=training)
        x = self._normalise(self.conv_norm, self.conv(x, training=training), labels, training)
        features = ops.mean(ops.leaky_relu(x, negative_slope=0.2), axis=(1, 2))
        if minibatch:
            h = self.minibatch(features)
        else:
            zeros = ops.zeros((ops.shape(features)[0], self.minibatch_kernels), features.dtype)
            h = ops.concatenate([features, zeros], axis=-1)
        score = self.score(h)
        if self.projection is not None:
            score = score + ops.sum(self.projection(labels) * features, axis=-1, keepdims=True)
        return ops.cast(score, "float32")

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "channels": self.channels,
            "n_down": self.n_down,
            "critic_norm": self.critic_norm,
            "minibatch_kernels": self.minibatch_kernels,
        }
