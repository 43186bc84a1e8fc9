"""Per-example classification losses on logits and integer labels.

Per-example, so the training step can scale by the global batch
(`tf.nn.compute_average_loss`) under any tf.distribute strategy.
"""

import keras
from keras import ops


def focal_loss(labels, logits, gamma: float = 2.0):
    """Focal loss, FL(p_t) = -(1 - p_t)^gamma · log(p_t) (Lin et al. 2017, Eq. 4).

    The G2C papers use it against class imbalance. gamma = 0 is cross-entropy.

    Args:
      labels: int class indices, shape [B].
      logits: unnormalised scores, shape [B, C].
      gamma: focusing parameter.

    Returns:
      float32 losses, shape [B].
    """
    logits = ops.cast(logits, "float32")
    log_p = ops.log_softmax(logits, axis=-1)
    log_pt = ops.take_along_axis(log_p, ops.expand_dims(ops.cast(labels, "int32"), -1), axis=-1)
    log_pt = ops.squeeze(log_pt, -1)
    return -ops.power(1.0 - ops.exp(log_pt), gamma) * log_pt


def cross_entropy(labels, logits):
    """Softmax cross-entropy, shape [B]."""
    return keras.losses.sparse_categorical_crossentropy(
        labels, ops.cast(logits, "float32"), from_logits=True
    )


LOSSES = ("focal", "cross_entropy")


def check_loss_name(name: str, owner: str) -> None:
    """Refuses an unknown loss name; `owner` names the caller in the error."""
    if name not in LOSSES:
        raise ValueError(f"{owner}: loss={name!r}: expected one of {LOSSES}")


def per_example_loss(name: str, labels, logits, focal_gamma: float = 2.0):
    """The classification loss `name` ("focal" or "cross_entropy"), shape [B]."""
    if name == "focal":
        return focal_loss(labels, logits, focal_gamma)
    return cross_entropy(labels, logits)
