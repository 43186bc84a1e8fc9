"""A trained classifier seen as HistoGAN's feature extractor (HistoGAN paper §3.1.2, §4.2.2).

The paper scores generators and generated images with a ResNet34 trained on the same
labeled data: FID on its features, and, for selection, its softmax and "feature vectors
after each residual block" under MC dropout, "a dropout layer of rate 0.5 ... inserted
before the last residual block" (Gal and Ghahramani 2016). Here the classifier is any
`Classifier` of this project (the stem ResNet branch); the dropout is inserted at scoring
time through the branch's `after_block` hook, so the classifier is trained as usual.
Batch norm stays in inference mode; only the inserted dropout is random, drawn statelessly
from (seed, call number), so a run repeats its draws.
"""

import keras
import tensorflow as tf


class MCDropoutExtractor:
    """`features` for FID, `predict` and `layers` (random per call) for selection.

    Args:
      classifier: a trained `kerasg2c.models.classifier.Classifier` (or anything with its
        `backbone` branch, `pool` and `head`).
      rate: dropout rate before the last residual block (0.5 in the paper).
      seed: the seed of the dropout draws.
    """

    def __init__(self, classifier, rate=0.5, seed=0):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate}")
        blocks = len(classifier.backbone.blocks)
        if blocks < 2:
            raise ValueError(f"the classifier's branch has {blocks} residual block(s); need 2")
        self.classifier, self.rate, self.seed = classifier, rate, seed
        self._drop_after = blocks - 2  # dropout on the input of the last block
        self._calls = 0
        self._forward = tf.function(self._forward_fn, reduce_retracing=True)

    def _forward_fn(self, images, seed):
        """(logits, per-block activations, pooled features); dropout when `seed` ≥ 0."""
        activations = []

        def after_block(i, x):
            activations.append(x)
            if i == self._drop_after and self.rate > 0:
                x = tf.cond(
                    seed[0] >= 0,
                    lambda: tf.nn.experimental.stateless_dropout(x, self.rate, seed=seed),
                    lambda: x,
                )
            return x

        images = tf.convert_to_tensor(images, tf.float32)
        features = self.classifier.backbone(images, training=False, after_block=after_block)
        pooled = self.classifier.pool(features)
        return self.classifier.head(pooled), activations, pooled

    def _next_seed(self):
        self._calls += 1
        return tf.constant([self.seed, self._calls], tf.int64)

    def features(self, images):
        """Pooled last-block features [B, C] without dropout (FID's feature layer)."""
        return self._forward(images, tf.constant([-1, 0], tf.int64))[2].numpy()

    def predict(self, images):
        """Softmax [B, K] under one fresh dropout draw."""
        logits = self._forward(images, self._next_seed())[0]
        return keras.ops.convert_to_numpy(tf.nn.softmax(logits))

    def layers(self, images):
        """The activation after each residual block [B, H_l, W_l, C_l], under one fresh
        dropout draw (it changes the last block's)."""
        return [a.numpy() for a in self._forward(images, self._next_seed())[1]]
