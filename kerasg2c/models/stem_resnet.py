"""The G2C classifier branch: a ResNet whose 7×7 first conv is a stem block,
followed by down-sampling units of residual blocks and stride-2 pooling
(G2C papers §Classifier). G2C shares one instance across all its branches."""

import keras

from kerasg2c.layers.residual_block import ResidualBlock
from kerasg2c.layers.stem_block import StemBlock
from kerasg2c.models.branch import Branch


@keras.saving.register_keras_serializable(package="kerasg2c")
class StemResNet(Branch):
    """Image → feature map: stem block, then one down-sampling unit per width.

    A unit is its count of residual blocks followed by 2×2 stride-2
    max-pooling (none after the last unit: global pooling follows in the head).
    `body` lists the layers after the stem in order, so G2C can insert its
    cross-stain attention after every `ResidualBlock`.

    Args:
      widths: channels of each down-sampling unit.
      blocks_per_unit: residual blocks per unit (3 in the papers): one int for every
        unit, or one count per unit (ResNet34: (3, 4, 6, 3)); see `unit_block_counts`.
      stem_width: channels out of the stem block.
      sync_batchnorm: see `ConvBNReLU`.

    Examples:

    >>> import numpy as np
    >>> branch = StemResNet(widths=(8, 16), blocks_per_unit=1, stem_width=8, sync_batchnorm=False)
    >>> tuple(branch(np.zeros((2, 32, 32, 3), "float32")).shape)
    (2, 4, 4, 16)
    """

    block_type = ResidualBlock  # G2C puts its cross-stain attention after each of these

    def __init__(
        self,
        widths=(64, 128, 256, 512),
        blocks_per_unit=3,
        stem_width=64,
        sync_batchnorm=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.widths, self.blocks_per_unit = tuple(widths), blocks_per_unit
        self.stem_width, self.sync_batchnorm = stem_width, sync_batchnorm
        self.stem = StemBlock(stem_width, sync_batchnorm=sync_batchnorm, name="stem")
        self.body = []
        counts = unit_block_counts(self.widths, blocks_per_unit)
        for u, (width, count) in enumerate(zip(self.widths, counts)):
            for b in range(count):
                self.body.append(
                    ResidualBlock(
                        width, sync_batchnorm=sync_batchnorm, name=f"unit{u + 1}_block{b + 1}"
                    )
                )
            if u < len(self.widths) - 1:
                self.body.append(keras.layers.MaxPooling2D(2, name=f"unit{u + 1}_pool"))

    def get_config(self):
        return {
            **super().get_config(),
            "widths": self.widths,
            "blocks_per_unit": self.blocks_per_unit,
            "stem_width": self.stem_width,
            "sync_batchnorm": self.sync_batchnorm,
        }


def unit_block_counts(widths, blocks_per_unit) -> tuple[int, ...]:
    """Residual blocks of each unit: `blocks_per_unit` repeated if an int, else the sequence
    itself, which must hold one positive int per width (ValueError otherwise)."""
    if isinstance(blocks_per_unit, int):
        return (blocks_per_unit,) * len(widths)
    counts = tuple(blocks_per_unit)
    if len(counts) != len(widths) or not all(isinstance(c, int) and c > 0 for c in counts):
        raise ValueError(
            f"blocks_per_unit={blocks_per_unit!r}: expected an int or one positive int per "
            f"unit ({len(widths)} widths: {tuple(widths)})"
        )
    return counts
