"""Cross-stain attention (AAAI G2C §Classifier, PAS_ALL+): squeeze-and-excitation
(Hu, Shen and Sun 2018) across the M + 1 stain branches of the G2C classifier."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasg2c")
class CrossStainAttention(keras.layers.Layer):
    """Re-weights every branch's channels from the responses of ALL branches.

    The G2C paper puts one such block after each residual block of the
    weight-shared classifier: "first down-sample neural responses from all
    stains (squeeze), then pass it through two fully-connected layers, and
    multiply it to each channel of the original responses (excitation)".

    Input: the stacked feature maps of the N = M + 1 branches, [N, B, H, W, C]
    (branch 0 = the source stain). G2C runs its branches folded into the batch
    axis, [N·B, H, W, C], so stacking is a free reshape. Output: same shape.

      squeeze  s = concat_n(GAP(x_n))                       [B, N·C]
      gates    a = sigmoid(W2 · ReLU(W1 · s + b1) + b2)       [B, N·C]
      excite   y_n = x_n · a[:, n·C:(n+1)·C]   (broadcast over H, W)

    With hidden = max(1, N·C // reduction) the block holds
      params = N·C·hidden + hidden  (W1, b1)  +  hidden·N·C + N·C  (W2, b2)
             = 2·N·C·hidden + hidden + N·C,
    see `parameter_count`. N = 1 is a plain SE block. At the papers' widths (units of
    64-512 channels, 3 blocks each, M = 3, r = 16) the twelve blocks add 12.0 % to the
    classifier and 5.0 % to classifier + generators; the AAAI paper's "5.27 % more
    parameters" matches the second (docs/METHODS.md §2).

    Args:
      num_branches: N = M + 1 (branches, i.e. stains, the source included).
      reduction: r, the bottleneck ratio of the two FC layers (16 as in SE-Net).

    Examples:

    >>> import numpy as np
    >>> attention = CrossStainAttention(num_branches=3, reduction=2)
    >>> tuple(attention(np.ones((3, 2, 4, 4, 8), "float32")).shape)
    (3, 2, 4, 4, 8)
    """

    def __init__(self, num_branches, reduction=16, **kwargs):
        super().__init__(**kwargs)
        if num_branches < 1:
            raise ValueError(f"num_branches={num_branches}: need at least 1")
        if reduction < 1:
            raise ValueError(f"reduction={reduction}: need at least 1")
        self.num_branches, self.reduction = int(num_branches), int(reduction)
        self.squeeze_fc = None
        self.excite_fc = None

    @staticmethod
    def hidden_units(num_branches, channels, reduction):
        return max(1, (num_branches * channels) // reduction)

    @classmethod
    def parameter_count(cls, num_branches, channels, reduction=16):
        """2·N·C·hidden + hidden + N·C, hidden = max(1, N·C // r)."""
        features = num_branches * channels
        hidden = cls.hidden_units(num_branches, channels, reduction)
        return 2 * features * hidden + hidden + features

    def build(self, input_shape):
        if len(input_shape) != 5 or input_shape[0] not in (None, self.num_branches):
            raise ValueError(
                f"{self.name}: expected stacked branches [{self.num_branches}, B, H, W, C], "
                f"got {tuple(input_shape)}"
            )
        channels = input_shape[-1]
        features = self.num_branches * channels
        hidden = self.hidden_units(self.num_branches, channels, self.reduction)
        self.squeeze_fc = keras.layers.Dense(hidden, activation="relu", name="squeeze_fc")
        self.excite_fc = keras.layers.Dense(features, activation="sigmoid", name="excite_fc")
        self.squeeze_fc.build((None, features))
        self.excite_fc.build((None, hidden))

    def gates(self, x):
        """The excitation a of stacked maps x [N, B, H, W, C], as [N, B, C] in (0, 1)."""
        n, channels = self.num_branches, x.shape[-1]
        pooled = ops.mean(x, axis=(2, 3))  # [N, B, C]
        squeezed = ops.reshape(ops.transpose(pooled, (1, 0, 2)), (-1, n * channels))
        gates = self.excite_fc(self.squeeze_fc(squeezed))  # [B, N·C]
        return ops.transpose(ops.reshape(gates, (-1, n, channels)), (1, 0, 2))

    def call(self, x):
        return x * ops.cast(self.gates(x)[:, :, None, None, :], x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "num_branches": self.num_branches,
            "reduction": self.reduction,
        }
