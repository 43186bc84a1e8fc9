"""serving.export: a trained run into a Triton repository, checked against Keras (no server
here; tests/test_serving_server.py serves what this writes)."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import first_test_patches, run_python

from kerasg2c.models.resnet_generator import ResnetGenerator
from serving import export, model_config


def test_g2c_export_writes_every_format_and_matches_the_run(tmp_path, g2c_run):
    repo = tmp_path / "repo"
    results = export.export_run(str(g2c_run), str(repo), name="g2c", execution_env="/venv")
    assert sorted(results) == ["g2c", "g2c_onnx", "g2c_python"]
    for diffs in results.values():
        assert diffs["probabilities"] < 1e-4 and diffs["stains"] <= 1
    assert (repo / "g2c" / "1" / "model.savedmodel" / "saved_model.pb").exists()
    assert (repo / "g2c_onnx" / "1" / "model.onnx").exists()
    assert (repo / "g2c_python" / "1" / "model.py").exists()
    assert (repo / "g2c" / "labels.txt").read_text().split() == ["noa", "ss", "gs"]
    config = (repo / "g2c" / "config.pbtxt").read_text()
    assert 'platform: "tensorflow_savedmodel"' in config and "max_batch_size: 32" in config
    assert "data_type: TYPE_UINT8" in config and "dims: [ -1, -1, 3 ]" in config
    assert "dims: [ 3, 32, 32, 3 ]" in config  # the stains output: M × S × S × 3
    assert "kind: KIND_GPU" in config and "preferred_batch_size: [ 4, 8, 16 ]" in config
    python_config = (repo / "g2c_python" / "config.pbtxt").read_text()
    assert 'backend: "python"' in python_config and "kind: KIND_CPU" in python_config
    assert 'string_value: "/venv"' in python_config
    assert 'platform: "onnxruntime_onnx"' in (repo / "g2c_onnx" / "config.pbtxt").read_text()
    metadata = json.loads((repo / "g2c" / "metadata.json").read_text())
    assert metadata["stains"] == ["HE", "MASSON", "PASM"] and metadata["image_size"] == 32
    assert metadata["variant"] == "PAS_ALL_PLUS" and metadata["input"]["dtype"] == "uint8"
    assert metadata["input"]["max_pixels"] == export.MAX_PIXELS == 64 * 1024 * 1024

    # Raw test-split pixels through the exported graph give the run's own predictions.
    images, expected = first_test_patches(g2c_run)
    serve = tf.saved_model.load(str(repo / "g2c" / "1" / "model.savedmodel"))
    outputs = serve.signatures["serving_default"](image=tf.constant(images))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-4)
    assert outputs["stains"].shape == (4, 3, 32, 32, 3) and outputs["stains"].dtype == tf.uint8


def test_onnx_variant_resizes_like_the_savedmodel(tmp_path, g2c_run):
    import onnxruntime

    repo = tmp_path / "repo"
    export.export_run(str(g2c_run), str(repo), name="g2c", formats=("savedmodel", "onnx"))
    images = np.random.default_rng(1).integers(0, 256, (2, 50, 41, 3), dtype=np.uint8)
    saved = tf.saved_model.load(str(repo / "g2c" / "1" / "model.savedmodel"))
    want = saved.signatures["serving_default"](image=tf.constant(images))
    session = onnxruntime.InferenceSession(str(repo / "g2c_onnx" / "1" / "model.onnx"))
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {session.get_inputs()[0].name: images})))
    # float32 resize and convolutions in two runtimes: 1.2e-4 apart was seen on one trained
    # run, within 1e-4 on others.
    np.testing.assert_allclose(got["probabilities"], want["probabilities"].numpy(), atol=3e-4)


def test_savedmodel_refuses_images_above_max_pixels(tmp_path, g2c_run):
    repo = tmp_path / "repo"
    export.export_run(str(g2c_run), str(repo), name="g2c", formats=("savedmodel",), max_pixels=3600)
    serve = tf.saved_model.load(str(repo / "g2c" / "1" / "model.savedmodel"))
    signature = serve.signatures["serving_default"]
    assert signature(image=tf.zeros((1, 60, 60, 3), tf.uint8))["probabilities"].shape == (1, 3)
    message = "image of 60×61 = 3660 pixels exceeds max_pixels = 3600 of this model"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        signature(image=tf.zeros((1, 61, 60, 3), tf.uint8))
    with pytest.raises(ValueError, match="--max_pixels must be positive"):
        export.export_run(
            str(g2c_run), str(repo), name="g2c", formats=("savedmodel",), max_pixels=0
        )


def test_cyclegan_generators_export_one_model_per_stain(tmp_path):
    run = tmp_path / "cyclegan_run"
    (run / "generators").mkdir(parents=True)
    (run / "config.json").write_text(
        json.dumps({"data": {"image_size": 16}, "cyclegan": {"source_stain": "PAS"}})
    )
    generator = ResnetGenerator(ngf=4, n_blocks=1, name="generator_ab")
    generator(tf.zeros((1, 16, 16, 3)))
    generator.save(run / "generators" / "HE.keras")
    results = export.export_run(str(run), str(tmp_path / "repo"), formats=("savedmodel",))
    assert list(results) == ["cyclegan_run_he"] and results["cyclegan_run_he"]["image"] <= 1
    metadata = json.loads((tmp_path / "repo" / "cyclegan_run_he" / "metadata.json").read_text())
    assert (metadata["source_stain"], metadata["target_stain"]) == ("PAS", "HE")
    assert not (tmp_path / "repo" / "cyclegan_run_he" / "labels.txt").exists()


class NoisyModel(keras.Model):
    """A model whose served output is not a function of its input."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(keras.ops.mean(x, axis=(1, 2)))

    def serving_outputs(self, images):
        noise = tf.random.uniform((tf.shape(images)[0], 2))
        return {"probabilities": keras.ops.softmax(self(images)) + noise}


def test_export_fails_loudly_past_tolerance(tmp_path):
    model = NoisyModel()
    model(tf.zeros((1, 8, 8, 3)))
    exportable = export.Exportable("noisy", model, 8, {}, ("a", "b"))
    with pytest.raises(RuntimeError, match="'probabilities' differs from the Keras model"):
        export.export_model(exportable, str(tmp_path), formats=("savedmodel",))


def test_cli_errors_name_the_problem(tmp_path, g2c_run):
    proc = run_python(["-m", "serving.export", f"--workdir={tmp_path}", "--repository=r"])
    assert proc.returncode == 1 and "no config.json" in proc.stderr
    proc = run_python(
        [
            "-m",
            "serving.export",
            f"--workdir={g2c_run}",
            f"--repository={tmp_path / 'r'}",
            "--formats=savedmodel,tflite",
        ]
    )
    assert proc.returncode == 1 and "unknown ['tflite']" in proc.stderr
    assert not os.path.exists(tmp_path / "r" / os.path.basename(g2c_run))


@pytest.mark.parametrize("shape", [(2, 32, 32, 3), (2, 131, 69, 3), (1, 20, 45, 3)])
def test_exported_resize_equals_the_training_pipeline_resize(shape):
    x = tf.random.stateless_uniform(shape, seed=(1, 2))
    want = tf.image.resize(x, [32, 32], antialias=True)
    np.testing.assert_allclose(export.resize_antialiased(x, 32).numpy(), want.numpy(), atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 32, 16, 3), (1, 70, 45, 3)])
def test_exported_resize_to_height_by_width(shape):
    x = tf.random.stateless_uniform(shape, seed=(1, 2))
    want = tf.image.resize(x, [32, 16], antialias=True)
    got = export.resize_antialiased(x, (32, 16))
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)


def test_a_non_square_run_is_served_at_its_height_and_width(tmp_path):
    from kerasg2c.models.classifier import Classifier

    run = tmp_path / "tall"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"data": {"image_size": 16, "image_height": 32}}))
    (run / "report.json").write_text(json.dumps({"trainer": "classifier", "classes": ["a", "b"]}))
    model = Classifier(2, widths=(4,), blocks_per_unit=1, stem_width=4)
    model(tf.zeros((1, 32, 16, 3)))
    model.save(run / "model.keras")
    (exportable,) = export.find_exportables(str(run))
    assert exportable.image_size == (32, 16)
    probes = export.probe_images(exportable.image_size, "uint8")
    assert [p["image"].shape for p in probes] == [(3, 32, 16, 3), (2, 67, 21, 3)]
    # export_model checks the SavedModel against Keras on those probes.
    export.export_run(str(run), str(tmp_path / "repo"), formats=("savedmodel",))
    metadata = json.loads((tmp_path / "repo" / "tall" / "metadata.json").read_text())
    assert (metadata["image_height"], metadata["image_size"]) == (32, 16)
    serve = tf.saved_model.load(str(tmp_path / "repo" / "tall" / "1" / "model.savedmodel"))
    images = np.random.default_rng(0).integers(0, 256, (2, 50, 41, 3), dtype=np.uint8)
    got = serve.signatures["serving_default"](image=tf.constant(images))["probabilities"]
    x = tf.round(tf.image.resize(images / 255.0, [32, 16], antialias=True) * 255.0) / 255.0
    want = model.serving_outputs(tf.cast(x, tf.float32))["probabilities"]
    np.testing.assert_allclose(got.numpy(), np.asarray(want), atol=1e-4)


def test_config_text_rejects_unknown_format():
    with pytest.raises(ValueError, match="unknown export format"):
        model_config.config_text("m", "torchscript", [], [], model_config.Batching(), {})
