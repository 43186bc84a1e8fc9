"""An AlexNet-style branch for small patches: the classifier G2C pairs with its transferred
generators on 50×50 breast IDC patches (G2C papers §Transferring to Breast Cancer, after
Janowczyk & Madabhushi 2016)."""

import keras

from kerasg2c.layers.conv_bn_relu import ConvBNReLU
from kerasg2c.models.branch import Branch


@keras.saving.register_keras_serializable(package="kerasg2c")
class AlexNetBranch(Branch):
    """Image → feature map: AlexNet's five convolutions and its first two max-pools.

    AlexNet's 11×11 stride-4 first layer suits 224 px, not 50 px, so the stem here is a
    5×5 stride-1 convolution, as in the small-patch AlexNet variants; batch normalisation
    replaces local response normalisation. The last pool is left to G2C's global pooling.

        stem: conv 5×5 (stem_width) → body: pool 2, conv 5×5 (widths[0]), pool 2,
        conv 3×3 (widths[1]), conv 3×3 (widths[2]), conv 3×3 (widths[3])

    Args:
      widths: channels of the four convolutions after the stem (AlexNet: 192, 384, 256, 256).
      stem_width: channels of the first convolution (AlexNet: 64).
      sync_batchnorm: see `ConvBNReLU`.

    Examples:

    >>> import numpy as np
    >>> branch = AlexNetBranch(widths=(8, 8, 8, 8), stem_width=8, sync_batchnorm=False)
    >>> tuple(branch(np.zeros((2, 64, 64, 3), "float32")).shape)
    (2, 16, 16, 8)
    """

    block_type = ConvBNReLU  # G2C puts its cross-stain attention after each of these

    def __init__(self, widths=(192, 384, 256, 256), stem_width=64, sync_batchnorm=True, **kwargs):
        super().__init__(**kwargs)
        if len(widths) != 4:
            raise ValueError(f"AlexNetBranch: widths={tuple(widths)}: expected 4 values")
        self.widths, self.stem_width = tuple(widths), stem_width
        self.sync_batchnorm = sync_batchnorm
        self.stem = ConvBNReLU(stem_width, 5, sync_batchnorm=sync_batchnorm, name="conv1")
        self.body = [keras.layers.MaxPooling2D(2, name="pool1")]
        for i, width in enumerate(self.widths):
            kernel = 5 if i == 0 else 3
            self.body.append(
                ConvBNReLU(width, kernel, sync_batchnorm=sync_batchnorm, name=f"conv{i + 2}")
            )
            if i == 0:
                self.body.append(keras.layers.MaxPooling2D(2, name="pool2"))

    def get_config(self):
        return {
            **super().get_config(),
            "widths": self.widths,
            "stem_width": self.stem_width,
            "sync_batchnorm": self.sync_batchnorm,
        }
