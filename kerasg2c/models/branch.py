"""What every classifier branch shares, and the branch a Classifier or G2C builds by name.

A branch is a stem layer, then `body`, a list of layers run in order, whose `block_type`
layers take the `training` flag and are where G2C inserts its cross-stain attention.
"""

import keras

from kerasg2c.layers.stack import build_stack, stack_output_shape

BRANCHES = ("stem_resnet", "alexnet")


class Branch(keras.layers.Layer):
    """Image → feature map through `self.stem` then `self.body` (set by the subclass).

    Examples:

    >>> import numpy as np
    >>> from kerasg2c.models.stem_resnet import StemResNet
    >>> branch = StemResNet(widths=(8, 8), blocks_per_unit=1, stem_width=8, sync_batchnorm=False)
    >>> isinstance(branch, Branch), len(branch.blocks)
    (True, 2)
    >>> branch.block_output_shapes((None, 32, 32, 3))
    [(None, 8, 8, 8), (None, 4, 4, 8)]
    >>> tuple(branch(np.zeros((2, 32, 32, 3), "float32")).shape)
    (2, 4, 4, 8)
    """

    block_type = keras.layers.Layer  # subclasses: the class of their blocks

    def build(self, input_shape):
        build_stack([self.stem, *self.body], input_shape)

    @property
    def blocks(self):
        """The `block_type` layers of `body`, in order."""
        return [layer for layer in self.body if isinstance(layer, self.block_type)]

    def block_output_shapes(self, input_shape):
        """The output shape of each of `blocks`."""
        shapes, shape = [], self.stem.compute_output_shape(input_shape)
        for layer in self.body:
            shape = layer.compute_output_shape(shape)
            if isinstance(layer, self.block_type):
                shapes.append(shape)
        return shapes

    def call(self, x, training=None, after_block=None):
        """after_block(i, x): what goes on from the output x of the i-th block (G2C's
        cross-stain attention); None = x itself."""
        x = self.stem(x, training=training)
        blocks = 0
        for layer in self.body:
            if not isinstance(layer, self.block_type):
                x = layer(x)
                continue
            x = layer(x, training=training)
            if after_block is not None:
                x = after_block(blocks, x)
            blocks += 1
        return x

    def compute_output_shape(self, input_shape):
        return stack_output_shape([self.stem, *self.body], input_shape)
