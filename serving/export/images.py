"""The serving graph of an image model: raw pixels in, `serving_outputs` of the resized batch.

An image model's exported graph takes raw pixels: uint8 [B, H, W, 3] (or float32 in [0, 1]
with --input_dtype=float32) of any H, W, and resizes them to the run's `data.image_height` ×
`data.image_size` (height × width; `data.image_size` square when image_height is 0 or
missing from config.json; metadata.json gives both as "image_height" and "image_size") the
way the training pipeline did (bilinear, antialiased, rounded to 8 bits). An image of more
than --max_pixels (height × width) is refused before any work on it: the SavedModel graph
(and so the Python backend) fails the request with "image of W×H = N pixels exceeds
max_pixels = M of this model"; the Python backend checks it before touching the pixels. The
ONNX variant cannot refuse (tf2onnx drops assertions): clients read max_pixels from the
metadata, and `serving.client` refuses such images before sending.
"""

import numpy as np

from serving import model_config

MAX_PIXELS = 64 * 1024 * 1024  # default --max_pixels: generous for patches and tiles


def _shape(image_size) -> tuple[int, int]:
    """(height, width) of S or (height, width)."""
    if isinstance(image_size, (tuple, list)):
        return int(image_size[0]), int(image_size[1])
    return int(image_size), int(image_size)


def _resize_weights(n_in, n_out):
    """[n_out, n_in] weights of antialiased bilinear (triangle-filter) resampling: output
    pixel i averages the inputs near its centre (i + 0.5)·n_in/n_out, the triangle widened
    by n_in/n_out when shrinking, normalised to sum 1."""
    import tensorflow as tf

    n_in, n_out = tf.cast(n_in, tf.float32), tf.cast(n_out, tf.float32)
    step = n_in / n_out
    centres = (tf.range(n_out) + 0.5) * step
    distance = (tf.range(n_in)[None, :] + 0.5 - centres[:, None]) / tf.maximum(step, 1.0)
    weights = tf.maximum(0.0, 1.0 - tf.abs(distance))
    return weights / tf.reduce_sum(weights, axis=1, keepdims=True)


def resize_antialiased(images, size):
    """`tf.image.resize(images, [height, width], antialias=True)` (what the training pipeline
    uses) written as two matrix products, because its ScaleAndTranslate op has no ONNX
    equivalent; equal to it within float rounding (tests/test_serving_export.py).

    Args:
        images: float images [B, H, W, C].
        size: S for S × S, or (height, width).

    Examples:

        resize_antialiased(tf.zeros((1, 50, 41, 3)), (32, 16))  # [1, 32, 16, 3]
    """
    import tensorflow as tf

    height, width = _shape(size)
    rows = _resize_weights(tf.shape(images)[1], height)
    columns = _resize_weights(tf.shape(images)[2], width)
    x = tf.einsum("ph,bhwc->bpwc", rows, images)
    return tf.einsum("qw,bpwc->bpqc", columns, x)


def serving_function(model, image_size, input_dtype: str, max_pixels: int = MAX_PIXELS):
    """tf.function: raw images [B, H, W, 3] → `model.serving_outputs` of the batch resized
    to `image_size`; InvalidArgumentError before any work when H × W > `max_pixels`.

    Args:
        model: a model with `serving_outputs(images)`, images [B, h, w, 3] in [0, 1].
        image_size: S (square) or (height, width) the model takes.
        input_dtype: "uint8" (pixels in [0, 255]) or "float32" (in [0, 1]).
        max_pixels: the largest height × width a request may have.

    Returns:
        (serve, preprocess): the tf.function, and the eager resize to the model's grid.

    Examples:

        serve, preprocess = serving_function(model, 32, "uint8")
    """
    import tensorflow as tf

    def preprocess(image):
        x = tf.cast(image, tf.float32)
        if input_dtype == "uint8":
            x = x / 255.0
        x = resize_antialiased(x, image_size)
        # The training pipeline stores resized images as uint8: the same grid here.
        return tf.round(tf.clip_by_value(x, 0.0, 1.0) * 255.0) / 255.0

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], input_dtype, name="image")])
    def serve(image):
        height, width = tf.shape(image)[1], tf.shape(image)[2]
        pixels = tf.cast(height, tf.int64) * tf.cast(width, tf.int64)
        message = tf.strings.format(
            "image of {}×{} = {} pixels exceeds max_pixels = " + f"{max_pixels} of this model",
            (width, height, pixels),
        )
        check = tf.debugging.Assert(pixels <= max_pixels, [message])
        with tf.control_dependencies([check]):
            image = tf.identity(image)
        return model.serving_outputs(preprocess(image))

    return serve, preprocess


def probe_images(image_size, input_dtype: str) -> list[dict]:
    """Seeded images: a batch at the model's size, one larger (resized by the graph).

    Args:
        image_size: S (square) or (height, width).
        input_dtype: "uint8" or "float32" (the uint8 pixels / 255).

    Examples:

        probe_images((32, 16), "uint8")  # images [3, 32, 16, 3] and [2, 67, 21, 3]
    """
    rng = np.random.default_rng(0)
    height, width = _shape(image_size)
    shapes = [(3, height, width, 3), (2, height * 2 + 3, width + 5, 3)]
    images = [rng.integers(0, 256, size=s, dtype=np.uint8) for s in shapes]
    if input_dtype == "float32":
        images = [(x / 255.0).astype(np.float32) for x in images]
    return [{"image": x} for x in images]


def image_input(input_dtype: str) -> model_config.Tensor:
    """The one input of an image model's graph, "image" [B, -1, -1, 3]."""
    return model_config.Tensor("image", input_dtype, (-1, -1, 3))


def image_input_metadata(input_dtype: str, max_pixels: int) -> dict:
    """metadata.json's "input" entry of an image model."""
    return {
        "input": {
            "name": "image",
            "dtype": input_dtype,
            "range": [0, 255] if input_dtype == "uint8" else [0.0, 1.0],
            "layout": "NHWC, RGB, any height and width (resized to image_height × image_size)",
            "max_pixels": max_pixels,
        }
    }
