"""The top-1 MIL classifier: a `Classifier` trained on instances whose served input is a
whole tile (Campanella et al. 2019; the IHC paper's "MIL for Getting Class-Related
Information")."""

import keras

from kerasg2c.models.classifier import Classifier


@keras.saving.register_keras_serializable(package="kerasg2c")
class MILClassifier(Classifier):
    """`Classifier` on instances of `instance_size` pixels (`call`, `train_step`); served
    on tiles: a tile is cut into its grid of instances, each scored, and the tile's
    tumour probability is the maximum instance probability (class 1 = tumour).

    Args:
      instance_size: side of an instance; a served tile's side must be a multiple.
      **kwargs: see `Classifier` (two classes).

    Examples:

    >>> import numpy as np
    >>> model = MILClassifier(
    ...     instance_size=32, widths=(8, 8), blocks_per_unit=1, stem_width=8, sync_batchnorm=False
    ... )
    >>> tuple(model.instance_scores(np.zeros((1, 64, 64, 3), "float32")).shape)
    (1, 4)
    """

    def __init__(self, num_classes=2, instance_size=32, **kwargs):
        super().__init__(num_classes, **kwargs)
        self.instance_size = instance_size

    def instance_scores(self, tiles):
        """Tumour probability of every instance of tiles [B, S, S, 3] in [0, 1]: [B, g·g],
        row-major over the g × g grid."""
        s, size = self.instance_size, tiles.shape[1]
        g = size // s
        x = keras.ops.reshape(tiles, (-1, g, s, g, s, 3))
        x = keras.ops.reshape(keras.ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, s, s, 3))
        probabilities = keras.ops.softmax(self(x, training=False))[:, 1]
        return keras.ops.reshape(probabilities, (-1, g * g))

    def serving_outputs(self, images):
        """For tiles [B, S, S, 3] in [0, 1]: {"probabilities": [B, 2] (normal, tumour) with
        tumour = max instance probability, "instance_scores": [B, g·g]}."""
        scores = self.instance_scores(images)
        tumour = keras.ops.max(scores, axis=1, keepdims=True)
        return {
            "probabilities": keras.ops.concatenate([1.0 - tumour, tumour], axis=1),
            "instance_scores": scores,
        }

    def get_config(self):
        return {**super().get_config(), "instance_size": self.instance_size}
