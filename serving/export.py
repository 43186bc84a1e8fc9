"""Exports the models of a run into a Triton model repository.

    python -m serving.export --workdir=runs/g2c --repository=model_repository \
        [--name=g2c] [--version=1] [--formats=savedmodel,onnx,python] \
        [--input_dtype=uint8] [--max_batch_size=32] [--preferred_batch_sizes=4,8,16] \
        [--max_queue_delay_us=1000] [--instance_kind=auto] [--instance_count=1] \
        [--max_pixels=67108864]

Exportable models of a run: `WORKDIR/model.keras` (classifier, G2C: one graph from a
source-stain image to class probabilities, G2C with its generated stains as a second
output; HistoGAN: the chosen generator) and `WORKDIR/generators/<stain>.keras` (CycleGAN:
one model per target stain). Any model with a `serving_outputs(images) -> {name: tensor}`
method exports the same way; nothing here is model-specific.

A model that takes something other than images also defines `serving_inputs()`: {name:
(dtype, dims)} or {name: (dtype, dims, (low, high))}, dims per example without the batch
(() = one scalar per example; Triton carries it as dims [1] reshaped to []), dtypes of
`model_config.TRITON_TYPES`, (low, high) the inclusive range of valid values (required for
int32 and int64 inputs). Its graph then takes those named inputs, [B, *dims] each, and
calls `serving_outputs(**inputs)`; --input_dtype and --max_pixels do not apply. The graph
refuses out-of-range values ("input class_id must be in [0, 2], got [0, 5]"), and so does
the Python backend, before any work, which also refuses NaN and infinite floats. The probe
inputs are seeded: integers drawn from the range (its ends included), floats uniform in the
range or, without one, N(0, 1). metadata.json lists them under "inputs" (dtype, dims as
sent to Triton, range). When tf2onnx cannot convert such a model, or writes a graph that
onnxruntime cannot load, its ONNX variant is skipped with a warning (an image model's
export fails instead).

Per model and format, `REPO/<model>/config.pbtxt`, `REPO/<model>/<version>/...`,
`labels.txt` (class names, when the model has classes) and `metadata.json` (also in the
config as the parameter "kerasg2c_metadata", so clients need nothing else). Formats:
`savedmodel` (Triton's TensorFlow backend, Triton <= 25.02), `onnx` (tf2onnx, the
onnxruntime backend; model name suffixed `_onnx`), `python` (Triton's Python backend
running the SavedModel in this environment; suffix `_python`; runs on the CPU server of
`serving.server`).

An image model's exported graph takes raw pixels: uint8 [B, H, W, 3] (or float32 in [0, 1] with
--input_dtype=float32) of any H, W, and resizes them to the run's `data.image_height` ×
`data.image_size` (height × width; `data.image_size` square when image_height is 0 or
missing from config.json; metadata.json gives both as "image_height" and "image_size") the
way the training pipeline did (bilinear, antialiased, rounded to 8 bits). An image of more
than --max_pixels (height × width) is refused before any work on it: the SavedModel graph
(and so the Python backend) fails the request with "image of W×H = N pixels exceeds
max_pixels = M of this model"; the Python backend checks it before touching the pixels. The ONNX
variant cannot refuse (tf2onnx drops assertions): clients read max_pixels from the metadata,
and `serving.client` refuses such images before sending. Every variant is
run on a few inputs at export time and must match the in-process Keras model; the maximum
absolute differences are printed and written to metadata.json, and the export fails past
the tolerance.
"""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from absl import app, flags, logging

from kerasg2c import json_files
from serving import model_config, server

FORMATS = ("savedmodel", "onnx", "python")
MAX_PIXELS = 64 * 1024 * 1024  # default --max_pixels: generous for patches and tiles
# Largest allowed |exported - Keras| per output dtype (uint8 outputs: one grey level).
TOLERANCE = {"float32": 1e-4, "uint8": 1.0}


@dataclasses.dataclass
class Exportable:
    """One model of a run and what a client needs to know about it."""

    name: str
    model: object  # a keras.Model with serving_outputs (and maybe serving_inputs)
    image_size: int | tuple[int, int]  # S (square) or (height, width), see `image_shape`
    metadata: dict
    classes: tuple = ()


def find_exportables(workdir: str, name: str | None = None) -> list[Exportable]:
    """The models of run `workdir` (see the module docstring); ValueError if none."""
    import keras

    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)
    from kerasg2c.jobs import shared_config

    workdir = os.path.abspath(workdir)
    config = json_files.read_object(os.path.join(workdir, "config.json"))
    report = json_files.read_object(os.path.join(workdir, "report.json"))
    if not config:
        raise ValueError(f"{workdir}: no config.json (is it a run directory?)")
    name = name or os.path.basename(workdir).replace("-", "_")
    height, width = shared_config.image_shape(config)  # image_height missing: square
    image_size = (height, width) if height != width else width
    run = {
        "run": workdir,
        "written": report.get("written"),
        "trainer": report.get("trainer"),
        "image_size": width,
        "image_height": height,
    }
    found = []
    path = os.path.join(workdir, "model.keras")
    if os.path.isfile(path):
        classes = tuple(report.get("classes", ()))
        metadata = {
            **run,
            "variant": report.get("variant"),
            "task": report.get("task"),
            "classes": list(classes),
            "stains": report.get("stains", []),
        }
        model = keras.saving.load_model(path, compile=False)
        found.append(Exportable(name, model, image_size, metadata, classes))
    generators = os.path.join(workdir, "generators")
    if os.path.isdir(generators):
        source = config.get("cyclegan", {}).get("source_stain") or "source"
        for file in sorted(os.listdir(generators)):
            if not file.endswith(".keras"):
                continue
            stain = file[: -len(".keras")]
            model = keras.saving.load_model(os.path.join(generators, file), compile=False)
            if (model.get_build_config() or {}).get("input_shape", [3])[-1] != 3:
                logging.warning("%s: a class-conditioned generator; not exported", file)
                continue
            metadata = dict(run)
            if not hasattr(model, "serving_inputs"):  # an image → image stain translator
                metadata |= {"source_stain": source, "target_stain": stain}
            found.append(Exportable(f"{name}_{stain.lower()}", model, image_size, metadata))
    if not found:
        raise ValueError(f"{workdir}: nothing to export (no model.keras, no generators/*.keras)")
    return found


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
    uses; `size`: S for S × S or (height, width)) written as two matrix products, because
    its ScaleAndTranslate op has no ONNX equivalent; equal to it within float rounding
    (tests/test_serving_export.py)."""
    import tensorflow as tf

    height, width = _shape(size)
    rows = _resize_weights(tf.shape(images)[1], height)
    columns = _resize_weights(tf.shape(images)[2], width)
    x = tf.einsum("ph,bhwc->bpwc", rows, images)
    return tf.einsum("qw,bpwc->bpqc", columns, x)


def serving_function(model, image_size, input_dtype: str, max_pixels: int = MAX_PIXELS):
    """tf.function: raw images [B, H, W, 3] → `model.serving_outputs` of the batch resized
    to `image_size` (S or (height, width)); InvalidArgumentError before any work when
    H × W > `max_pixels`."""
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


def model_inputs(model) -> list[model_config.Tensor] | None:
    """The inputs of `model.serving_inputs()` (see the module docstring), or None for a
    model served from images; ValueError naming a bad entry."""
    method = getattr(model, "serving_inputs", None)
    if method is None:
        return None
    spec = method()
    if isinstance(spec, dict):
        entries = list(spec.items())
    else:  # model_config.Tensor-like objects
        entries = [(t.name, (t.dtype, t.dims, getattr(t, "range", None))) for t in spec]
    inputs = []
    for name, entry in entries:
        dtype, dims, *rest = entry
        dtype, dims = str(dtype), tuple(int(d) for d in dims)
        bounds = tuple(rest[0]) if rest and rest[0] is not None else None
        if dtype not in model_config.TRITON_TYPES:
            raise ValueError(
                f"serving_inputs: input {name!r} has dtype {dtype!r}; "
                f"expected one of {list(model_config.TRITON_TYPES)}"
            )
        if bounds is not None and (len(bounds) != 2 or bounds[0] > bounds[1]):
            raise ValueError(f"serving_inputs: input {name!r} has range {bounds}; need (low, high)")
        if dtype.startswith("int") and bounds is None:
            raise ValueError(
                f"serving_inputs: integer input {name!r} needs a (low, high) range "
                "(its valid values: the probes are drawn from it, requests are checked)"
            )
        inputs.append(model_config.Tensor(str(name), dtype, dims, bounds))
    if not inputs:
        raise ValueError("serving_inputs: no inputs")
    return inputs


def inputs_serving_function(model, inputs: list[model_config.Tensor]):
    """tf.function: the named `inputs`, [B, *dims] each → `model.serving_outputs(**inputs)`;
    InvalidArgumentError before any work when a value is outside its input's range."""
    import tensorflow as tf

    specs = [tf.TensorSpec([None, *t.dims], t.dtype, name=t.name) for t in inputs]

    @tf.function(input_signature=specs)
    def serve(*values):
        named = {}
        for t, x in zip(inputs, values):
            if t.range is not None:
                low, high = t.range
                message = tf.strings.format(
                    f"input {t.name} must be in [{low}, {high}], got [{{}}, {{}}]",
                    (tf.reduce_min(x), tf.reduce_max(x)),
                )
                inside = tf.reduce_all(x >= low) & tf.reduce_all(x <= high)
                with tf.control_dependencies([tf.debugging.Assert(inside, [message])]):
                    x = tf.identity(x)
            named[t.name] = x
        return model.serving_outputs(**named)

    return serve


def _probe_inputs(image_size, input_dtype: str) -> list[dict]:
    """Seeded images: a batch at the model's size (S or (height, width)), one larger
    (resized by the graph)."""
    rng = np.random.default_rng(0)
    height, width = _shape(image_size)
    shapes = [(3, height, width, 3), (2, height * 2 + 3, width + 5, 3)]
    images = [rng.integers(0, 256, size=s, dtype=np.uint8) for s in shapes]
    if input_dtype == "float32":
        images = [(x / 255.0).astype(np.float32) for x in images]
    return [{"image": x} for x in images]


def _probe_tensors(inputs: list[model_config.Tensor]) -> list[dict]:
    """Seeded values of `inputs` (see the module docstring), batches of 3 and 2; -1 dims
    are probed at 4."""
    rng = np.random.default_rng(0)
    probes = []
    for batch in (3, 2):
        probe = {}
        for t in inputs:
            shape = (batch, *(4 if d == -1 else d for d in t.dims))
            if t.dtype.startswith(("int", "uint")):
                low, high = t.range or (0, 255)
                x = rng.integers(low, high + 1, size=shape, dtype=np.int64)
                x.reshape(-1)[[0, -1]] = low, high
            elif t.range is not None:
                x = rng.uniform(t.range[0], t.range[1], size=shape)
            else:
                x = rng.standard_normal(shape)
            probe[t.name] = x.astype(t.dtype)
        probes.append(probe)
    return probes


def _max_diffs(got: dict, expected: dict, where: str) -> dict:
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


def _keras_reference(exportable, preprocess, probes) -> list[dict]:
    """Eager Keras outputs on the probes (the reference every variant must match);
    `preprocess` None: the model's own inputs, passed by name."""
    import tensorflow as tf

    model = exportable.model
    reference = []
    for probe in probes:
        if preprocess is None:
            outputs = model.serving_outputs(**{k: tf.constant(v) for k, v in probe.items()})
        else:
            outputs = model.serving_outputs(preprocess(probe["image"]))
        reference.append({k: np.asarray(v) for k, v in outputs.items()})
    return reference


def _write_savedmodel(exportable, serve, folder) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.model = exportable.model
    module.serve = serve
    tf.saved_model.save(module, folder, signatures={"serving_default": serve})


def _check_savedmodel(folder, probes, reference) -> dict:
    import tensorflow as tf

    signature = tf.saved_model.load(folder).signatures["serving_default"]
    diffs = {}
    for probe, want in zip(probes, reference):
        got = {
            k: v.numpy()
            for k, v in signature(**{n: tf.constant(x) for n, x in probe.items()}).items()
        }
        for k, d in _max_diffs(got, want, f"SavedModel {folder}").items():
            diffs[k] = max(d, diffs.get(k, 0.0))
    return diffs


def _write_onnx(savedmodel: str, path: str) -> None:
    """tf2onnx's converter on the SavedModel (its documented CLI)."""
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", savedmodel]
    cmd += ["--output", path, "--opset", "17"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"tf2onnx failed on {savedmodel}:\n{proc.stderr[-3000:]}")


def _onnx_session(path):
    """onnxruntime's session on `path`; RuntimeError when it cannot load the graph."""
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise RuntimeError(f"onnxruntime cannot load {path}: {str(e)[:1500]}") from e


def _check_onnx(session, path, probes, reference) -> dict:
    input_names = {i.name.split(":")[0]: i.name for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    diffs = {}
    for probe, want in zip(probes, reference):
        feed = {input_names[k]: x for k, x in probe.items()}
        got = dict(zip(names, session.run(None, feed)))
        for k, d in _max_diffs(got, want, f"ONNX {path}").items():
            diffs[k] = max(d, diffs.get(k, 0.0))
    return diffs


def _remove_version(model_dir, version_dir) -> None:
    """Removes `version_dir`, and `model_dir` when no other version is left in it."""
    shutil.rmtree(version_dir)
    if not any(f.isdigit() for f in os.listdir(model_dir)):
        shutil.rmtree(model_dir)


def _tensors(reference, input_dtype, own_inputs=None):
    inputs = own_inputs or [model_config.Tensor("image", input_dtype, (-1, -1, 3))]
    outputs = [
        model_config.Tensor(k, str(v.dtype), tuple(v.shape[1:])) for k, v in reference[0].items()
    ]
    return inputs, outputs


def export_model(
    exportable: Exportable,
    repository: str,
    version: int = 1,
    formats=FORMATS,
    input_dtype: str = "uint8",
    batching: model_config.Batching | None = None,
    execution_env: str | None = None,
    max_pixels: int = MAX_PIXELS,
) -> dict:
    """Writes `exportable` in every format; returns {model name: max abs diffs}.

    `max_pixels`: the largest height × width a request may have (see the module docstring).
    `input_dtype` and `max_pixels` apply to image models only (not to a model with
    `serving_inputs`).

    `execution_env`: the Python environment the Python-backend variant runs in (Triton's
    EXECUTION_ENV_PATH); default this interpreter's virtual environment, if any.
    """
    batching = batching or model_config.Batching()
    if execution_env is None:
        execution_env = server.python_backend_parameters().get("EXECUTION_ENV_PATH")
    if max_pixels < 1:
        raise ValueError(f"--max_pixels must be positive, got {max_pixels}")
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"--formats: unknown {unknown}; expected some of {list(FORMATS)}")
    own_inputs = model_inputs(exportable.model)
    if own_inputs is None:
        serve, preprocess = serving_function(
            exportable.model, exportable.image_size, input_dtype, max_pixels
        )
        probes = _probe_inputs(exportable.image_size, input_dtype)
        input_metadata = {
            "input": {
                "name": "image",
                "dtype": input_dtype,
                "range": [0, 255] if input_dtype == "uint8" else [0.0, 1.0],
                "layout": "NHWC, RGB, any height and width (resized to image_height × image_size)",
                "max_pixels": max_pixels,
            }
        }
    else:
        if input_dtype != "uint8" or max_pixels != MAX_PIXELS:
            logging.info(
                "%s takes %s, not images: --input_dtype and --max_pixels do not apply",
                exportable.name,
                ", ".join(t.name for t in own_inputs),
            )
        serve, preprocess = inputs_serving_function(exportable.model, own_inputs), None
        probes = _probe_tensors(own_inputs)
        input_metadata = {
            "inputs": {
                t.name: {
                    "dtype": t.dtype,
                    "dims": list(t.dims) or [1],  # as sent: a scalar per example is [1]
                    **({"range": list(t.range)} if t.range is not None else {}),
                }
                for t in own_inputs
            }
        }
    reference = _keras_reference(exportable, preprocess, probes)
    inputs, outputs = _tensors(reference, input_dtype, own_inputs)
    label_output = "probabilities" if exportable.classes else None
    results = {}
    savedmodel = savedmodel_diffs = None
    for fmt in [f for f in FORMATS if f in formats]:
        name = exportable.name if fmt == "savedmodel" else f"{exportable.name}_{fmt}"
        model_dir = os.path.join(repository, name)
        version_dir = os.path.join(model_dir, str(version))
        if os.path.exists(version_dir):
            shutil.rmtree(version_dir)
        os.makedirs(version_dir)
        saved = os.path.join(version_dir, "model.savedmodel")
        if fmt in ("savedmodel", "python"):
            if savedmodel is None:
                _write_savedmodel(exportable, serve, saved)
                savedmodel = saved
                savedmodel_diffs = _check_savedmodel(saved, probes, reference)
            else:
                shutil.copytree(savedmodel, saved)
            diffs = savedmodel_diffs  # the Python backend runs this same SavedModel
            if fmt == "python":
                here = os.path.dirname(os.path.abspath(__file__))
                shutil.copy(
                    os.path.join(here, "python_backend_model.py"),
                    os.path.join(version_dir, "model.py"),
                )
        else:  # onnx, converted from a SavedModel written for it
            scratch = savedmodel
            if scratch is None:
                scratch = os.path.join(model_dir, "savedmodel_for_onnx")
                _write_savedmodel(exportable, serve, scratch)
            onnx_path = os.path.join(version_dir, "model.onnx")
            try:
                _write_onnx(scratch, onnx_path)
                session = _onnx_session(onnx_path)
            except RuntimeError as e:
                if own_inputs is None:
                    raise
                _remove_version(model_dir, version_dir)
                reason = str(e).strip().splitlines()[-1]
                reason = reason if len(reason) <= 160 else "…" + reason[-160:]
                logging.warning(
                    "%s: no ONNX variant, tf2onnx cannot convert this model (%s); "
                    "the SavedModel and Python variants are unaffected",
                    name,
                    reason,
                )
                continue
            finally:
                if scratch != savedmodel:
                    shutil.rmtree(scratch, ignore_errors=True)  # maybe gone with model_dir
            diffs = _check_onnx(session, onnx_path, probes, reference)
        metadata = {
            **exportable.metadata,
            "format": fmt,
            "version": version,
            **input_metadata,
            "outputs": {t.name: {"dtype": t.dtype, "dims": list(t.dims)} for t in outputs},
            "export_max_abs_diff": diffs,
        }
        with open(os.path.join(model_dir, "config.pbtxt"), "w") as f:
            f.write(
                model_config.config_text(
                    name, fmt, inputs, outputs, batching, metadata, label_output, execution_env
                )
            )
        with open(os.path.join(model_dir, "metadata.json"), "w") as f:
            json.dump(metadata, f, indent=1)
        if exportable.classes:
            with open(os.path.join(model_dir, "labels.txt"), "w") as f:
                f.write("\n".join(exportable.classes) + "\n")
        results[name] = diffs
        logging.info("exported %s (%s): max |exported - Keras| %s", name, fmt, diffs)
    return results


def export_run(workdir, repository, name=None, **kwargs) -> dict:
    """Every exportable model of run `workdir` into `repository` (see `export_model`)."""
    os.makedirs(repository, exist_ok=True)
    results = {}
    for exportable in find_exportables(workdir, name):
        results.update(export_model(exportable, repository, **kwargs))
    return results


def define_flags() -> None:
    """The CLI's flags (defined only when run as a program)."""
    flags.DEFINE_string("workdir", None, "Run directory to export.")
    flags.DEFINE_string("repository", None, "Triton model repository to write.")
    flags.DEFINE_string("name", None, "Model name (default: the run folder's name).")
    flags.DEFINE_integer("version", 1, "Model version folder.")
    flags.DEFINE_list("formats", list(FORMATS), f"Any of {', '.join(FORMATS)}.")
    flags.DEFINE_enum(
        "input_dtype", "uint8", ["uint8", "float32"], "uint8 in [0, 255] or float32 in [0, 1]."
    )
    flags.DEFINE_integer("max_batch_size", 32, "Triton max_batch_size.")
    flags.DEFINE_list("preferred_batch_sizes", ["4", "8", "16"], "Dynamic batching.")
    flags.DEFINE_integer("max_queue_delay_us", 1000, "Dynamic batching delay.")
    flags.DEFINE_enum(
        "instance_kind",
        "auto",
        ["auto", "gpu", "cpu"],
        "instance_group kind; auto = GPU for savedmodel/onnx, CPU for the Python backend.",
    )
    flags.DEFINE_integer("instance_count", 1, "Instances per device.")
    flags.DEFINE_integer(
        "max_pixels",
        MAX_PIXELS,
        "Largest height × width of a request's images; larger ones are refused.",
    )


def main(argv):
    FLAGS = flags.FLAGS
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not FLAGS.workdir or not FLAGS.repository:
        raise app.UsageError("--workdir and --repository are required")
    batching = model_config.Batching(
        max_batch_size=FLAGS.max_batch_size,
        preferred_batch_sizes=tuple(int(b) for b in FLAGS.preferred_batch_sizes),
        max_queue_delay_us=FLAGS.max_queue_delay_us,
        instance_kind="auto"
        if FLAGS.instance_kind == "auto"
        else f"KIND_{FLAGS.instance_kind.upper()}",
        instance_count=FLAGS.instance_count,
    )
    try:
        results = export_run(
            FLAGS.workdir,
            FLAGS.repository,
            FLAGS.name,
            version=FLAGS.version,
            formats=tuple(FLAGS.formats),
            input_dtype=FLAGS.input_dtype,
            batching=batching,
            max_pixels=FLAGS.max_pixels,
        )
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for name, diffs in results.items():
        worst = ", ".join(f"{k} {v:.3g}" for k, v in diffs.items())
        print(f"{name}: max |exported - Keras| {worst}")
    print(f"repository: {os.path.abspath(FLAGS.repository)}")
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
