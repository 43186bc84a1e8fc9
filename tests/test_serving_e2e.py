"""A trained G2C run exported by serving.export, served by the real tritonserver
(serving.server), queried with tritonclient and serving.client: answers match in-process
Keras, concurrent requests are batched and all answered, bad inputs get clear errors and the
server keeps answering."""

import concurrent.futures
import os

import numpy as np
import pytest
import tensorflow as tf
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from conftest import first_test_patches, free_ports, run_python
from PIL import Image
from tritonclient.utils import InferenceServerException

from serving import client, export, server

try:
    server.find_tritonserver()
    _MISSING = ""
except RuntimeError as e:
    _MISSING = str(e)
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"no tritonserver: {_MISSING}")

# Served answers against the in-process model: float32 graphs run by another process.
ATOL = 1e-4
# The float32 variant's max_pixels: small, so that an oversized request is cheap to send.
SMALL = 80 * 80


@pytest.fixture(scope="module")
def served(g2c_run, tmp_path_factory):
    """(server, repository) with the run's Python-backend variant for uint8 and float input."""
    repo = tmp_path_factory.mktemp("repo")
    exportable = export.find_exportables(str(g2c_run), "g2c")[0]
    export.export_model(exportable, str(repo), formats=("python",))
    exportable.name = "g2c_float"
    export.export_model(
        exportable, str(repo), formats=("python",), input_dtype="float32", max_pixels=SMALL
    )
    ports = free_ports(3)
    with server.TritonServer(str(repo), *ports, log_path=str(repo / "server.log")) as s:
        for name in ("g2c_python", "g2c_float_python"):
            s.wait_model_ready(name, timeout=180)
        yield s, repo
    assert all(server.port_free(p) for p in ports)


def _infer(client_module, url, images, model="g2c_python", outputs=("probabilities", "stains")):
    client = client_module.InferenceServerClient(url)
    datatype = "UINT8" if images.dtype == np.uint8 else "FP32"
    request = client_module.InferInput("image", list(images.shape), datatype)
    request.set_data_from_numpy(images)
    wanted = [client_module.InferRequestedOutput(o) for o in outputs]
    try:
        result = client.infer(model, [request], outputs=wanted)
    finally:
        client.close()  # an open keep-alive connection delays the server's stop by ~30 s
    return {o: result.as_numpy(o) for o in outputs}


def test_http_and_grpc_match_the_run_and_the_savedmodel(served, g2c_run):
    s, repo = served
    images, expected = first_test_patches(g2c_run)
    saved = tf.saved_model.load(str(repo / "g2c_python" / "1" / "model.savedmodel"))
    stains = saved.signatures["serving_default"](image=tf.constant(images))["stains"].numpy()
    for module, protocol in ((httpclient, "http"), (grpcclient, "grpc")):
        got = _infer(module, s.url(protocol), images)
        np.testing.assert_allclose(got["probabilities"], expected, atol=ATOL)
        np.testing.assert_array_equal(got["stains"], stains)
    # Float input in [0, 1] answers the same.
    got = _infer(httpclient, s.url("http"), (images / 255.0).astype(np.float32), "g2c_float_python")
    np.testing.assert_allclose(got["probabilities"], expected, atol=ATOL)


def test_concurrent_requests_are_all_answered_correctly(served, g2c_run):
    s, _ = served
    images, expected = first_test_patches(g2c_run)

    def one(i):
        got = _infer(httpclient, s.url("http"), images[i % 4][None], outputs=("probabilities",))
        return i, got["probabilities"][0]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(64)))
    assert len(answers) == 64
    for i, p in answers:
        np.testing.assert_allclose(p, expected[i % 4], atol=ATOL)


def _bad_request(url, images, datatype=None, model="g2c_python"):
    client = httpclient.InferenceServerClient(url)
    datatype = datatype or ("UINT8" if images.dtype == np.uint8 else "FP32")
    request = httpclient.InferInput("image", list(images.shape), datatype)
    request.set_data_from_numpy(images, binary_data=True)
    try:
        with pytest.raises(InferenceServerException) as error:
            client.infer(model, [request])
    finally:
        client.close()  # an open keep-alive connection delays the server's stop by ~30 s
    return error.value.message()


def test_bad_inputs_get_clear_errors_and_the_server_keeps_answering(served, g2c_run):
    s, _ = served
    url = s.url("http")
    images, expected = first_test_patches(g2c_run)
    u8 = np.zeros
    cases = [
        (lambda: _bad_request(url, u8((1, 32, 32, 4), np.uint8)), "got [1,32,32,4]"),
        (lambda: _bad_request(url, np.zeros((1, 32, 32, 3), np.float32)), "expects 'UINT8'"),
        (lambda: _bad_request(url, u8((33, 32, 32, 3), np.uint8)), "must be <= 32"),
        (lambda: _bad_request(url, u8((0, 32, 32, 3), np.uint8)), "byte size mismatch"),  # empty
        (
            lambda: _bad_request(
                url, np.full((1, 32, 32, 3), np.nan, np.float32), model="g2c_float_python"
            ),
            "NaN or infinite pixels",
        ),
        (
            lambda: _bad_request(
                url, np.full((1, 32, 32, 3), 7.0, np.float32), model="g2c_float_python"
            ),
            "must be in [0, 1], got [7, 7]",
        ),
        (
            lambda: _bad_request(
                url, np.zeros((1, 81, 81, 3), np.float32), model="g2c_float_python"
            ),
            "image of 81×81 = 6561 pixels exceeds max_pixels = 6400 of this model",
        ),
        (
            lambda: _bad_request(url, u8((1, 32, 32, 3), np.uint8), model="nope"),
            "unknown model: 'nope'",
        ),
    ]
    for make, needle in cases:
        message = make()
        assert message and needle in message, message
        # Still live, still right.
        got = _infer(httpclient, url, images[:1], outputs=("probabilities",))
        np.testing.assert_allclose(got["probabilities"], expected[:1], atol=ATOL)
    assert not s.exited()


def test_client_cli_answers_and_names_bad_files(served, g2c_run, tmp_path):
    s, _ = served
    rows = sorted((g2c_run / "data" / "labeled" / "test").rglob("*.png"))[:3]
    folder = tmp_path / "images"
    folder.mkdir()
    for path in rows:
        os.symlink(path, folder / path.name)
    (folder / "notes.png").write_text("not an image")
    stains = tmp_path / "stains"
    proc = run_python(
        [
            "-m",
            "serving.client",
            f"--url={s.url('grpc')}",
            "--protocol=grpc",
            "--model=g2c_python",
            f"--stains_dir={stains}",
            str(folder),
        ]
    )
    assert proc.returncode == 2, proc.stderr[-2000:]  # one file was refused
    assert "notes.png: not a readable image" in proc.stderr
    lines = [line.split("\t") for line in proc.stdout.splitlines()]
    assert len(lines) == 3 and all(line[1] in ("noa", "ss", "gs") for line in lines)
    assert len(list(stains.glob("*_HE.png"))) == 3 and len(list(stains.glob("*.png"))) == 9

    proc = run_python(["-m", "serving.client", f"--url={s.url('http')}", "--model=nope", "x"])
    assert proc.returncode == 1 and "model 'nope' is not ready" in proc.stderr
    assert "g2c_python" in proc.stderr  # the models it does have


def test_client_says_when_no_server_answers():
    (port,) = free_ports(1)
    proc = run_python(["-m", "serving.client", f"--url=127.0.0.1:{port}", "--model=g2c", "x"])
    assert proc.returncode == 1 and "no Triton server answers" in proc.stderr


def test_client_refuses_images_above_the_models_max_pixels(served, tmp_path, capsys):
    s, _ = served
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    Image.fromarray(np.zeros((81, 81, 3), np.uint8)).save(big)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(small)
    # Closed on leaving: an open keep-alive connection delays the server's stop.
    with client.Client(s.url("http"), "g2c_float_python") as answer:
        assert answer.metadata["input"]["max_pixels"] == SMALL
        assert client.run([str(big), str(small)], answer, batch_size=4) == 1
    out, err = capsys.readouterr()
    assert f"{big}: 81×81 = 6561 pixels exceeds max_pixels = 6400 of the model; not sent" in err
    assert out.startswith(str(small))
