"""Reflection padding, as PyTorch's `nn.ReflectionPad2d` in the reference CycleGAN."""

import keras
from keras import ops


def _normalize_padding(padding):
    """int | (h, w) | ((top, bottom), (left, right)) -> ((top, bottom), (left, right))."""
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    rows, cols = padding
    rows = (rows, rows) if isinstance(rows, int) else tuple(rows)
    cols = (cols, cols) if isinstance(cols, int) else tuple(cols)
    return (tuple(int(p) for p in rows), tuple(int(p) for p in cols))


@keras.saving.register_keras_serializable(package="kerasg2c")
class ReflectionPadding2D(keras.layers.Layer):
    """Pads the two spatial axes of an NHWC batch by reflection (edge not repeated).

    Reflection avoids the dark border that zero padding leaves in generated
    images (Zhu et al. 2017, CycleGAN, Appendix 7.2). Each pad must be smaller
    than the padded side.

    Args:
      padding: int, (rows, cols) or ((top, bottom), (left, right)).

    Examples:

    >>> import numpy as np
    >>> x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    >>> y = ReflectionPadding2D(1)(x)
    >>> tuple(y.shape)
    (1, 5, 5, 1)
    >>> np.asarray(y)[0, :, :, 0]
    array([[4., 3., 4., 5., 4.],
           [1., 0., 1., 2., 1.],
           [4., 3., 4., 5., 4.],
           [7., 6., 7., 8., 7.],
           [4., 3., 4., 5., 4.]], dtype=float32)
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _normalize_padding(padding)

    def call(self, x):
        (top, bottom), (left, right) = self.padding
        return ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        h, w = input_shape[1], input_shape[2]
        return (
            input_shape[0],
            None if h is None else h + top + bottom,
            None if w is None else w + left + right,
            input_shape[3],
        )

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
