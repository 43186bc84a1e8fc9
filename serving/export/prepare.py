"""What every format's exporter needs of one model: its serving graph, probes, Keras
reference outputs, Triton tensors and input metadata (`Prepared`)."""

import dataclasses

from absl import logging

from serving import model_config
from serving.export import images, named_inputs, verify


@dataclasses.dataclass
class Prepared:
    """One exportable ready to be written in any format.

    `serve`: the tf.function of the graph; `probes`/`reference`: the probe inputs and the
    Keras outputs on them; `own_inputs`: the model's named inputs (None: an image model);
    `inputs`/`outputs`: the Triton tensors; `input_metadata`: metadata.json's "input" or
    "inputs" entry. `savedmodel`/`savedmodel_diffs`: the first SavedModel written for it and
    its differences from Keras (the other SavedModel-based variants reuse both).
    """

    exportable: object  # exportables.Exportable
    serve: object
    probes: list
    reference: list
    own_inputs: list | None
    inputs: list
    outputs: list
    input_metadata: dict
    savedmodel: str | None = None
    savedmodel_diffs: dict | None = None


def prepare(exportable, input_dtype: str, max_pixels: int) -> Prepared:
    """The serving graph of `exportable` and its Keras reference on the probes.

    Args:
        exportable: an `exportables.Exportable`.
        input_dtype: "uint8" or "float32"; image models only.
        max_pixels: the largest height × width of a request; image models only.

    Examples:

        prepared = prepare(exportable, "uint8", images.MAX_PIXELS)
    """
    own_inputs = named_inputs.model_inputs(exportable.model)
    if own_inputs is None:
        serve, preprocess = images.serving_function(
            exportable.model, exportable.image_size, input_dtype, max_pixels
        )
        probes = images.probe_images(exportable.image_size, input_dtype)
        input_metadata = images.image_input_metadata(input_dtype, max_pixels)
        inputs = [images.image_input(input_dtype)]
    else:
        if input_dtype != "uint8" or max_pixels != images.MAX_PIXELS:
            logging.info(
                "%s takes %s, not images: --input_dtype and --max_pixels do not apply",
                exportable.name,
                ", ".join(t.name for t in own_inputs),
            )
        serve = named_inputs.inputs_serving_function(exportable.model, own_inputs)
        preprocess = None
        probes = named_inputs.probe_tensors(own_inputs)
        input_metadata = named_inputs.inputs_metadata(own_inputs)
        inputs = own_inputs
    reference = verify.keras_reference(exportable.model, preprocess, probes)
    outputs = [
        model_config.Tensor(k, str(v.dtype), tuple(v.shape[1:])) for k, v in reference[0].items()
    ]
    return Prepared(
        exportable, serve, probes, reference, own_inputs, inputs, outputs, input_metadata
    )
