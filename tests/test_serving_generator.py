"""A HistoGAN run's generator exported by serving.export through the generic
`serving_inputs` contract (no generator-specific code in the exporter): class_id (int32)
and noise (float32) in, a uint8 image out; the SavedModel matches Keras, and the real
tritonserver (Python-backend variant) answers like Keras and refuses bad class ids."""

import concurrent.futures
import json
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf
import tritonclient.http as httpclient
from conftest import free_ports
from tritonclient.utils import InferenceServerException

import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)
from kerasg2c.models.histogan_generator import HistoGANGenerator
from serving import export, model_config, server

CLASSES = ("normal", "tumour", "stroma")
NOISE_DIM = 8
SIZE = 32  # base (1, 1), 2 stages: 16², then 32²


@pytest.fixture(scope="module")
def histogan_run(tmp_path_factory):
    """A run folder as the HistoGAN job leaves it: config.json, report.json, model.keras."""
    run = tmp_path_factory.mktemp("histogan_run")
    (run / "config.json").write_text(json.dumps({"data": {"image_size": SIZE}}))
    report = {"trainer": "histogan", "classes": list(CLASSES)}
    (run / "report.json").write_text(json.dumps(report))
    keras.utils.set_random_seed(3)
    generator = HistoGANGenerator(
        len(CLASSES), noise_dim=NOISE_DIM, base_shape=(1, 1), channels=8, n_stages=2,
        res_blocks=1, name="generator",
    )  # fmt: skip
    generator((tf.zeros((1, NOISE_DIM)), tf.zeros((1,), tf.int32)))
    generator.save(run / "model.keras")
    return run


def _pairs(n, seed=7):
    """n (class_id, noise) pairs, every class among them."""
    rng = np.random.default_rng(seed)
    class_id = (np.arange(n) % len(CLASSES)).astype(np.int32)
    return class_id, rng.standard_normal((n, NOISE_DIM)).astype(np.float32)


def _keras_images(run, class_id, noise):
    model = keras.saving.load_model(run / "model.keras", compile=False)
    return model.serving_outputs(tf.constant(class_id), tf.constant(noise))["image"].numpy()


def _max_diff(a, b):
    return int(np.max(np.abs(a.astype(np.int32) - b.astype(np.int32))))


def test_generator_exports_with_class_id_and_noise_inputs(histogan_run, tmp_path, caplog):
    repo = tmp_path / "repo"
    with caplog.at_level(logging.WARNING):
        results = export.export_run(str(histogan_run), str(repo), name="histogan")
    assert set(results) == {"histogan", "histogan_onnx", "histogan_python"}
    assert all(diffs["image"] <= 1 for diffs in results.values())
    # tf2onnx converts it (SelfAttention reshapes to a static channel count) and the ONNX
    # variant matches Keras like the others.
    assert (repo / "histogan_onnx" / "1" / "model.onnx").exists(), caplog.text

    config = (repo / "histogan" / "config.pbtxt").read_text()
    assert 'name: "class_id"\n    data_type: TYPE_INT32\n    dims: [ 1 ]' in config
    assert "reshape: { shape: [ ] }" in config
    assert f'name: "noise"\n    data_type: TYPE_FP32\n    dims: [ {NOISE_DIM} ]' in config
    assert f'name: "image"\n    data_type: TYPE_UINT8\n    dims: [ {SIZE}, {SIZE}, 3 ]' in config
    assert (
        'name: "image"\n    data_type: TYPE_UINT8\n    dims: [ -1' not in config
    )  # no image input
    metadata = json.loads((repo / "histogan_python" / "metadata.json").read_text())
    assert metadata["trainer"] == "histogan" and metadata["classes"] == list(CLASSES)
    assert metadata["inputs"] == {
        "class_id": {"dtype": "int32", "dims": [1], "range": [0, len(CLASSES) - 1]},
        "noise": {"dtype": "float32", "dims": [NOISE_DIM]},
    }
    assert "input" not in metadata and metadata["outputs"]["image"]["dtype"] == "uint8"
    assert (repo / "histogan" / "labels.txt").read_text().split() == list(CLASSES)

    # Fresh pairs through the SavedModel signature: Keras's images within one grey level.
    class_id, noise = _pairs(5)
    saved = tf.saved_model.load(str(repo / "histogan" / "1" / "model.savedmodel"))
    signature = saved.signatures["serving_default"]
    got = signature(class_id=tf.constant(class_id), noise=tf.constant(noise))["image"].numpy()
    want = _keras_images(histogan_run, class_id, noise)
    assert got.dtype == np.uint8 and got.shape == (5, SIZE, SIZE, 3)
    assert _max_diff(got, want) <= 1 and np.ptp(want) > 0  # not a constant image
    message = r"input class_id must be in \[0, 2\], got \[0, 3\]"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        signature(class_id=tf.constant([0, 3], tf.int32), noise=tf.constant(noise[:2]))


class _Inputs:
    def __init__(self, spec):
        self.spec = spec

    def serving_inputs(self):
        return self.spec


def test_serving_inputs_are_checked_and_may_be_tensors():
    tensors = [
        model_config.Tensor("k", "int64", (), (1, 4)),
        model_config.Tensor("z", "float32", (2,)),
    ]
    assert export.model_inputs(_Inputs(tensors)) == tensors
    assert export.model_inputs(_Inputs({"k": ("int64", [], (1, 4)), "z": ("float32", [2])})) == (
        tensors
    )
    assert export.model_inputs(object()) is None  # an image model
    with pytest.raises(ValueError, match="integer input 'k' needs a \\(low, high\\) range"):
        export.model_inputs(_Inputs({"k": ("int32", ())}))
    with pytest.raises(ValueError, match="input 'z' has dtype 'float64'"):
        export.model_inputs(_Inputs({"z": ("float64", (2,))}))
    probes = export.probe_tensors(tensors)
    assert [p["k"].shape for p in probes] == [(3,), (2,)] and probes[0]["k"].dtype == np.int64
    assert set(probes[0]["k"]) >= {1, 4} and all(
        1 <= p["k"].min() <= p["k"].max() <= 4 for p in probes
    )


try:
    server.find_tritonserver()
    _MISSING = ""
except RuntimeError as e:
    _MISSING = str(e)


@pytest.fixture(scope="module")
def served(histogan_run, tmp_path_factory):
    """(server, repository) serving the generator's Python-backend variant."""
    if _MISSING:
        pytest.skip(f"no tritonserver: {_MISSING}")
    repo = tmp_path_factory.mktemp("repo")
    export.export_run(str(histogan_run), str(repo), name="histogan", formats=("python",))
    ports = free_ports(3)
    with server.TritonServer(str(repo), *ports, log_path=str(repo / "server.log")) as s:
        s.wait_model_ready("histogan_python", timeout=180)
        yield s, repo
    assert all(server.port_free(p) for p in ports)


def _infer(url, class_id, noise, class_datatype="INT32"):
    client = httpclient.InferenceServerClient(url)
    inputs = [
        httpclient.InferInput("class_id", [len(class_id), 1], class_datatype),
        httpclient.InferInput("noise", list(noise.shape), "FP32"),
    ]
    inputs[0].set_data_from_numpy(np.asarray(class_id).reshape(-1, 1))
    inputs[1].set_data_from_numpy(noise)
    try:
        return client.infer("histogan_python", inputs).as_numpy("image")
    finally:
        client.close()  # an open keep-alive connection holds up the server's shutdown


def test_served_generator_matches_keras_and_refuses_bad_class_ids(served, histogan_run):
    s, _ = served
    url = s.url("http")
    class_id, noise = _pairs(3)
    want = _keras_images(histogan_run, class_id, noise)
    got = _infer(url, class_id, noise)
    assert got.dtype == np.uint8 and got.shape == (3, SIZE, SIZE, 3)
    assert _max_diff(got, want) <= 1

    # One pair per request, concurrently: batched by Triton, each answered with its own image.
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda i: _infer(url, class_id[i : i + 1], noise[i : i + 1]), [0, 1, 2] * 4)
        )
    for i, image in zip([0, 1, 2] * 4, answers):
        assert _max_diff(image[0], want[i]) <= 1

    bad_noise = noise.copy()
    bad_noise[1, 2] = np.nan
    cases = [
        (
            lambda: _infer(url, np.array([0, 3, 1], np.int32), noise),
            "input class_id must be in [0, 2], got [0, 3]",
        ),
        (
            lambda: _infer(url, np.array([-1, 0, 1], np.int32), noise),
            "must be in [0, 2], got [-1, 1]",
        ),
        (lambda: _infer(url, class_id, bad_noise), "input 'noise' has NaN or infinite values"),
        (lambda: _infer(url, class_id.astype(np.float32), noise, "FP32"), "expects 'INT32'"),
        (lambda: _infer(url, class_id, noise[:, :5]), "got [3,5]"),
    ]
    for make, needle in cases:
        with pytest.raises(InferenceServerException) as error:
            make()
        assert needle in error.value.message(), error.value.message()
        np.testing.assert_array_equal(_infer(url, class_id, noise), got)  # still answering
    assert not s.exited()
