"""A list of layers applied in order: building it, and the shape it gives.

The models keep their layers in a plain list (`self.body`) rather than a
`keras.Sequential`, so that a `call` can reach between them (G2C's attention after each
block, a fully convolutional critic's size checks); these two functions build such a list
and follow a shape through it.
"""


def build_stack(layers, input_shape) -> tuple:
    """Builds `layers` in order for an input of `input_shape`; returns the output shape.

    Args:
      layers: the layers, each taking the previous one's output.
      input_shape: the first layer's input shape, batch axis included.

    Examples:
      >>> import keras
      >>> body = [keras.layers.Conv2D(4, 3, strides=2, padding="same"), keras.layers.ReLU()]
      >>> build_stack(body, (None, 8, 8, 3))
      (None, 4, 4, 4)
    """
    shape = tuple(input_shape)
    for layer in layers:
        layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape


def stack_output_shape(layers, input_shape) -> tuple:
    """The output shape of `layers` applied in order to `input_shape`, as `build_stack`
    returns it, without building them.

    Examples:
      >>> import keras
      >>> stack_output_shape([keras.layers.MaxPooling2D(), keras.layers.Flatten()], (2, 8, 8, 3))
      (2, 48)
    """
    shape = tuple(input_shape)
    for layer in layers:
        shape = tuple(layer.compute_output_shape(shape))
    return shape
