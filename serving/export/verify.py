"""Verification of an exported variant against the in-process Keras model.

Every variant is run on a few seeded probe inputs at export time and must match the Keras
model's own outputs on them; the maximum absolute differences are printed and written to
metadata.json ("export_max_abs_diff"), and the export fails past TOLERANCE.
"""

import numpy as np

# Largest allowed |exported - Keras| per output dtype (uint8 outputs: one grey level).
TOLERANCE = {"float32": 1e-4, "uint8": 1.0}


def keras_reference(model, preprocess, probes) -> list[dict]:
    """Eager Keras outputs on the probes (the reference every variant must match).

    Args:
        model: the model, with `serving_outputs`.
        preprocess: the image preprocessing of `images.serving_function`; None: the model's
            own named inputs, passed by name.
        probes: [{input name: array}], as `images.probe_images` or
            `named_inputs.probe_tensors` give them.

    Examples:

        reference = keras_reference(model, preprocess, probe_images(32, "uint8"))
    """
    import tensorflow as tf

    reference = []
    for probe in probes:
        if preprocess is None:
            outputs = model.serving_outputs(**{k: tf.constant(v) for k, v in probe.items()})
        else:
            outputs = model.serving_outputs(preprocess(probe["image"]))
        reference.append({k: np.asarray(v) for k, v in outputs.items()})
    return reference


def max_diffs(got: dict, expected: dict, where: str) -> dict:
    """{output: max |got - expected|} of one probe; RuntimeError naming `where` when an output
    is missing, has another shape or differs past TOLERANCE.

    Args:
        got: {output name: array} of the exported variant.
        expected: {output name: array} of the Keras model (its dtype picks the tolerance).
        where: the variant, for the error messages ("ONNX repo/g2c_onnx/1/model.onnx").

    Examples:

        max_diffs({"p": np.ones(2)}, {"p": np.ones(2, np.float32)}, "here")  # {"p": 0.0}
    """
    diffs = {}
    for key, want in expected.items():
        if key not in got:
            raise RuntimeError(f"{where}: output {key!r} missing (has {sorted(got)})")
        have = np.asarray(got[key])
        if have.shape != want.shape:
            raise RuntimeError(f"{where}: output {key!r} has shape {have.shape}, not {want.shape}")
        diff = float(np.max(np.abs(have.astype(np.float64) - want.astype(np.float64))))
        if diff > TOLERANCE[str(want.dtype)]:
            raise RuntimeError(
                f"{where}: output {key!r} differs from the Keras model by {diff:.3g} "
                f"(tolerance {TOLERANCE[str(want.dtype)]})"
            )
        diffs[key] = max(diff, diffs.get(key, 0.0))
    return diffs


def check_outputs(run, probes, reference, where: str) -> dict:
    """{output: max |run(probe) - reference|} over all probes (see `max_diffs`).

    Args:
        run: probe {input name: array} → {output name: array} of the exported variant.
        probes: the probe inputs.
        reference: the Keras outputs on them (`keras_reference`).
        where: the variant, for the error messages.
    """
    diffs = {}
    for probe, want in zip(probes, reference):
        for k, d in max_diffs(run(probe), want, where).items():
            diffs[k] = max(d, diffs.get(k, 0.0))
    return diffs
