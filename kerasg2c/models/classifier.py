"""A single-stain patch classifier: the G2C classifier with no generated stain (M = 0),
a classifier branch with a pooled linear head. `G2C` extends it with the generators."""

import keras
import tensorflow as tf

from kerasg2c.losses import classification
from kerasg2c.models.alexnet_branch import AlexNetBranch
from kerasg2c.models.branch import BRANCHES
from kerasg2c.models.stem_resnet import StemResNet


def make_branch(branch, widths, blocks_per_unit, stem_width, sync_batchnorm, owner):
    """The layer "backbone": `StemResNet` for branch="stem_resnet" (the G2C papers'
    glomerulus branch) or `AlexNetBranch` for "alexnet" (their breast cancer transfer;
    `blocks_per_unit` does not apply to it). `owner` names the caller in errors."""
    if branch == "stem_resnet":
        return StemResNet(widths, blocks_per_unit, stem_width, sync_batchnorm, name="backbone")
    if branch == "alexnet":
        return AlexNetBranch(widths, stem_width, sync_batchnorm, name="backbone")
    raise ValueError(f"{owner}: branch={branch!r}: expected one of {BRANCHES}")


@keras.saving.register_keras_serializable(package="kerasg2c")
class Classifier(keras.Model):
    """t = c(I_0; θ^C): branch → global average pooling → dense logits.

    The G2C papers' single-stain baseline (PAS_ONLY): "when M = 0, our model degenerates
    to that using one single stain for classification" (Wu et al., "G2C: A
    Generator-to-Classifier Framework Integrating Multi-Stained Visual Cues for
    Pathological Glomerulus Classification", §Our Approach: Formulation of the AAAI
    version, §3.2 of the arXiv version). Inputs are images in [0, 1]; `train_step`
    minimises the focal loss (Lin et al. 2017, Eq. 4) or cross-entropy, scaled by the
    global batch.

    Args:
      num_classes: output classes.
      widths, blocks_per_unit, stem_width, sync_batchnorm: see `StemResNet`.
      loss: "focal" or "cross_entropy".
      focal_gamma: focusing parameter of the focal loss.
      branch: "stem_resnet" or "alexnet" (see `make_branch` above).
      dropout_before_last_block: dropout rate on the input of the branch's last block
        while training (0 = none); HistoGAN's feature extractor is "pre-trained with MC
        dropout" of 0.5 there (HistoGAN paper §1, §4.2.2), the G2C classifier has none.

    Examples:

    >>> import numpy as np
    >>> model = Classifier(2, widths=(8, 8), blocks_per_unit=1, stem_width=8, sync_batchnorm=False)
    >>> tuple(model(np.zeros((2, 32, 32, 3), "float32")).shape)
    (2, 2)
    """

    num_branches = 1  # the stains the head sees (G2C: M + 1)
    input_channels = 3  # channels of the images `call` takes

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
        dropout_before_last_block=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = type(self).__name__
        classification.check_loss_name(loss, owner)
        if not 0.0 <= dropout_before_last_block < 1.0:
            raise ValueError(
                f"{owner}: dropout_before_last_block must be in [0, 1), "
                f"got {dropout_before_last_block}"
            )
        self.num_classes, self.loss_name, self.focal_gamma = num_classes, loss, focal_gamma
        self.branch, self.blocks_per_unit = branch, blocks_per_unit
        self.backbone = make_branch(
            branch, widths, blocks_per_unit, stem_width, sync_batchnorm, owner
        )
        self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        self.head = keras.layers.Dense(num_classes, dtype="float32", name="logits")
        self.dropout_before_last_block = dropout_before_last_block
        self.dropout = keras.layers.Dropout(dropout_before_last_block, name="dropout")

    def build(self, input_shape):
        """input_shape: (B, H, W, 3) images in [0, 1]."""
        shape = (None, *tuple(input_shape)[1:])
        self.backbone.build(shape)  # inside its own name scope: the paths `call` would give
        channels = self.backbone.compute_output_shape(shape)[-1]
        self.head.build((None, self.num_branches * channels))

    def call(self, images, training=None):
        after_block = None
        if training and self.dropout_before_last_block:
            last = len(self.backbone.blocks) - 1

            def after_block(i, x):  # on the input of the last block, as MCDropoutExtractor
                return self.dropout(x, training=True) if i == last - 1 else x

        features = self.backbone(images, training=training, after_block=after_block)
        return self.head(self.pool(features))

    def serving_outputs(self, images):
        """What a server returns for images [B, S, S, 3] in [0, 1] (`serving.export`)."""
        return {"probabilities": keras.ops.softmax(self(images, training=False))}

    @property
    def classifier_variables(self):
        """Trainable variables of θ^C: the branch and the head."""
        return list(self.backbone.trainable_variables) + list(self.head.trainable_variables)

    def per_example_loss(self, labels, logits):
        return classification.per_example_loss(self.loss_name, labels, logits, self.focal_gamma)

    def train_step(self, data):
        images, labels = data
        # 1. Forward; the loss is this replica's share of the global-batch mean.
        with tf.GradientTape() as tape:
            logits = self._training_logits(images)
            loss = tf.nn.compute_average_loss(self.per_example_loss(labels, logits))
            scaled_loss = self.optimizer.scale_loss(loss)
        # 2. One backward pass; the optimizers sum the gradients across replicas.
        self._apply_gradients(tape, scaled_loss)
        # 3. Accuracy, scaled like the loss so the loop can SUM-reduce it.
        correct = tf.cast(
            tf.equal(tf.argmax(logits, -1, output_type=tf.int32), tf.cast(labels, tf.int32)),
            tf.float32,
        )
        return {"loss": loss, "accuracy": tf.nn.compute_average_loss(correct)}

    def _training_logits(self, images):
        """The logits `train_step` differentiates."""
        return self(images, training=True)

    def _apply_gradients(self, tape, scaled_loss):
        """Updates θ^C with `optimizer`."""
        variables = self.classifier_variables
        self.optimizer.apply(tape.gradient(scaled_loss, variables), variables)

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
            "dropout_before_last_block": self.dropout_before_last_block,
        }
