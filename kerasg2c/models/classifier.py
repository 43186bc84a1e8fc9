"""A single-stain patch classifier: the G2C branch with a pooled linear head."""

import keras
import tensorflow as tf

from kerasg2c.losses import classification
from kerasg2c.models.branches import make_branch


@keras.saving.register_keras_serializable(package="kerasg2c")
class Classifier(keras.Model):
    """StemResNet → global average pooling → dense logits.

    This is G2C with M = 0 (PAS_ONLY) and proves the training core end to end.
    Inputs are images in [0, 1]; `train_step` minimises the focal loss (or
    cross-entropy) scaled by the global batch.

    Args:
      num_classes: output classes.
      widths, blocks_per_unit, stem_width, sync_batchnorm: see `StemResNet`.
      branch: "stem_resnet" or "alexnet" (see `kerasg2c.models.branches`).
      loss: "focal" or "cross_entropy".
      focal_gamma: focusing parameter of the focal loss.
    """

    def __init__(
        self,
        num_classes,
        widths=(64, 128, 256, 512),
        blocks_per_unit=3,
        stem_width=64,
        sync_batchnorm=True,
        loss="focal",
        focal_gamma=2.0,
        branch="stem_resnet",
        **kwargs,
    ):
        super().__init__(**kwargs)
        classification.check_loss_name(loss)
        self.num_classes, self.loss_name, self.focal_gamma = num_classes, loss, focal_gamma
        self.branch, self.blocks_per_unit = branch, blocks_per_unit
        self.backbone = make_branch(branch, widths, blocks_per_unit, stem_width, sync_batchnorm)
        self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        self.head = keras.layers.Dense(num_classes, dtype="float32", name="logits")

    def call(self, images, training=None):
        return self.head(self.pool(self.backbone(images, training=training)))

    def serving_outputs(self, images):
        """What a server returns for images [B, S, S, 3] in [0, 1] (`serving.export`)."""
        return {"probabilities": keras.ops.softmax(self(images, training=False))}

    def per_example_loss(self, labels, logits):
        return classification.per_example_loss(self.loss_name, labels, logits, self.focal_gamma)

    def train_step(self, data):
        images, labels = data
        # 1. Forward pass; the loss is this replica's share of the global-batch mean.
        with tf.GradientTape() as tape:
            logits = self(images, training=True)
            loss = tf.nn.compute_average_loss(self.per_example_loss(labels, logits))
            scaled_loss = self.optimizer.scale_loss(loss)
        # 2. Gradients are summed across replicas by the optimizer.
        grads = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        # 3. Accuracy, scaled like the loss so the loop can SUM-reduce it.
        correct = tf.cast(
            tf.equal(tf.argmax(logits, -1, output_type=tf.int32), tf.cast(labels, tf.int32)),
            tf.float32,
        )
        return {"loss": loss, "accuracy": tf.nn.compute_average_loss(correct)}

    def get_config(self):
        backbone = self.backbone
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "branch": self.branch,
            "widths": backbone.widths,
            "blocks_per_unit": self.blocks_per_unit,
            "stem_width": backbone.stem_width,
            "sync_batchnorm": backbone.sync_batchnorm,
            "loss": self.loss_name,
            "focal_gamma": self.focal_gamma,
        }
