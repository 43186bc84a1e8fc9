"""What every classifier branch shares: a stem layer, then `body`, a list of layers run in
order, whose `block_type` layers take the `training` flag and are where G2C inserts its
cross-stain attention."""

import keras


class Branch(keras.layers.Layer):
    """Image → feature map through `self.stem` then `self.body` (set by the subclass)."""

    block_type = keras.layers.Layer  # subclasses: the class of their blocks

    def build(self, input_shape):
        self.stem.build(input_shape)
        shape = self.stem.compute_output_shape(input_shape)
        for layer in self.body:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, x, training=None):
        x = self.stem(x, training=training)
        for layer in self.body:
            x = layer(x, training=training) if isinstance(layer, self.block_type) else layer(x)
        return x

    def compute_output_shape(self, input_shape):
        shape = self.stem.compute_output_shape(input_shape)
        for layer in self.body:
            shape = layer.compute_output_shape(shape)
        return shape
