"""`python -m trainers.infowgan` end to end on tiny cell phantoms: InfoWGAN-GP training,
its clustering scored against k-means baselines, the generated-cell grid, its bad keys,
the serving export of Q and of the generator (and Triton serving Q), a killed run resumed
exactly, and the k sweep. The cells job: test_trainer_cells.py."""

import csv
import json

import numpy as np
import pytest
from conftest import INFOWGAN_TINY, prefetched, run_python, trainer_args
from job_harness import (
    assert_bad_key_named,
    assert_resumed_to_the_same_state,
    killed_after_step_3,
    trained_run,
)
from PIL import Image

from kerasg2c.jobs import infowgan_job

TINY = [*INFOWGAN_TINY, "--config.train.batch_size=4", "--config.train.epochs=2"]


@prefetched()
def infogan_run(tmp_path_factory):
    return trained_run(tmp_path_factory, "infowgan", TINY)


def test_infogan_run_reports_clusters_against_baselines(infogan_run):
    report = json.loads((infogan_run / "report.json").read_text())
    assert report["trainer"] == "infogan"
    assert report["cell_types"] == [
        "myeloblast", "lymphocyte", "neutrophil", "monocyte", "megakaryocyte"
    ]  # fmt: skip
    assert report["data"]["train"]["n"] == 40 and len(report["history"]) == 2
    scores = report["clustering"]
    for arm in ("infowgan_q", "kmeans_pixels", "kmeans_hog"):
        assert scores[arm]["n"] == 20 and scores[arm]["n_classes"] == 5
        assert 0.2 <= scores[arm]["purity"] <= 1 and 0 <= scores[arm]["f_score"] <= 1
        assert 0 <= scores[arm]["entropy"] <= np.log2(5) + 1e-9
    assert scores["kmeans_pixels"]["n_clusters"] == 5
    table = scores["q_clusters"]
    assert sorted(table) == [f"cluster {c}" for c in range(5)]
    assert sum(sum(row.values()) for row in table.values()) == 20
    svm = report["svm"]
    assert svm["n_train"] == 40 and svm["n_test"] == 20 and 0 <= svm["f1"] <= 1
    # One row per category, the same noise along each column: 5 × 4 cells of 32 px.
    grid = Image.open(infogan_run / report["grid"])
    assert grid.size == (4 * 34 - 2, 5 * 34 - 2)
    assert (infogan_run / "samples" / "cells_epoch002.png").exists()
    assert (infogan_run / "data" / "labeled" / "train" / "myeloblast").is_dir()
    for name in ("model.keras", infowgan_job.GENERATOR):
        assert (infogan_run / name).stat().st_size > 0, name
    # The collapse diagnostic at every evaluation point (epoch end) and at the end.
    for row in report["history"]:
        assert 1 <= row["categories_in_use"] <= 5 and len(row["category_shares"]) == 5
        assert 0 <= row["q_recovery"] <= 1 and 0.2 <= row["q_confidence"] <= 1
        assert 0.2 <= row["q_purity"] <= 1
    # The default: Q with the critic averaged over the last (up to 5) evaluation points,
    # the same Q the last point's "average" diagnostic measured.
    selection, steps = report["selection"], [r["step"] for r in report["history"]]
    assert selection["criterion"] == "average" and selection["points"] == steps[-5:]
    final = report["diagnostic"]
    assert final["q_purity"] == pytest.approx(scores["infowgan_q"]["purity"])
    assert final["q_purity"] == pytest.approx(report["history"][-1]["average"]["q_purity"])
    assert report["metrics"]["test"]["purity"] == scores["infowgan_q"]["purity"]


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("infogan.categories", 1, "config key infogan.categories=1"),
        ("infogan.lambda_gp", -1.0, "config key infogan.lambda_gp=-1.0"),
        ("infogan.n_critic", 0, "config key infogan.n_critic=0"),
        ("data.image_size", 24, "config key data.image_size=24"),
        ("data.image_height", 16, "config key data.image_height=16"),
        ("optimizer.beta_2", 1.5, "config key optimizer.beta_2=1.5"),
        ("optimizer.info_learning_rate", -1e-4, "config key optimizer.info_learning_rate"),
        ("infogan.select", "best", "config key infogan.select='best'"),
        ("infogan.recovery_cells", 0, "config key infogan.recovery_cells=0"),
        ("infogan.average_points", -1, "config key infogan.average_points=-1"),
    ],
)
def test_infogan_bad_keys_are_named(key, value, message):
    assert_bad_key_named("infowgan", infowgan_job.check, key, value, message)


def test_infogan_average_choice_needs_averaged_points():
    import re

    from kerasg2c.errors import UserError
    from kerasg2c.jobs import config_files

    config = config_files.load("configs/infowgan.py")
    config.infogan.select, config.infogan.average_points = "average", 0
    message = "config key infogan.select='average' needs infogan.average_points ≥ 1"
    with pytest.raises(UserError, match=re.escape(message)):
        infowgan_job.check(config)


def test_serving_exports_q_and_the_generator(infogan_run, tmp_path):
    import keras
    import tensorflow as tf

    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)
    from serving import export

    repo = tmp_path / "repo"
    results = export.export_run(
        str(infogan_run), str(repo), name="infogan", formats=("savedmodel",)
    )
    assert set(results) == {"infogan", "infogan_generator"}
    assert results["infogan"]["category_probabilities"] <= export.TOLERANCE["float32"]
    assert results["infogan_generator"]["image"] <= 1
    # Fresh cells through the exported graph (uint8 pixels in) against Keras's Q.
    cells = sorted((infogan_run / "data" / "labeled" / "test").glob("*/*.png"))[:4]
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in cells])
    saved = tf.saved_model.load(str(repo / "infogan" / "1" / "model.savedmodel"))
    (got,) = saved.signatures["serving_default"](tf.constant(pixels)).values()
    model = keras.saving.load_model(infogan_run / "model.keras", compile=False)
    want = model.serving_outputs(pixels.astype(np.float32) / 255.0)["category_probabilities"]
    np.testing.assert_allclose(got.numpy(), np.asarray(want), atol=1e-4)
    np.testing.assert_allclose(got.numpy().sum(axis=1), 1.0, atol=1e-5)
    metadata = json.loads((repo / "infogan_generator" / "metadata.json").read_text())
    assert metadata["inputs"]["class_id"]["range"] == [0, 4]
    assert "source_stain" not in metadata  # not a stain translator


# --- Resume -------------------------------------------------------------------

# One epoch (RESUME_FLAGS) of 48 cells, 4 per step with n_critic=1: 12 steps.
RESUME = [*TINY, "--config.data.phantoms.n_train=48", "--config.infogan.n_critic=1"]


@prefetched()
def resume_runs(tmp_path_factory):
    """The run SIGKILLed after step 3 logged, then resumed, and the same run uninterrupted."""
    return killed_after_step_3(tmp_path_factory, "infowgan", RESUME, steps=12)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_state(resume_runs):
    assert_resumed_to_the_same_state(resume_runs, steps=12)


def test_tritonserver_serves_q_like_keras(infogan_run, tmp_path):
    """The exported Q (Python-backend variant) answers cell PNGs like the Keras model."""
    import keras
    import tritonclient.http as httpclient
    from conftest import free_ports

    import kerasg2c.models  # noqa: F401  (registers the classes load_model needs)
    from serving import export, server

    try:
        server.find_tritonserver()
    except RuntimeError as e:
        pytest.skip(f"no tritonserver: {e}")
    repo = tmp_path / "repo"
    exportable = export.find_exportables(str(infogan_run), "infogan")[0]
    export.export_model(exportable, str(repo), formats=("python",))
    cells = sorted((infogan_run / "data" / "labeled" / "test").glob("*/*.png"))[:5]
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in cells])
    model = keras.saving.load_model(infogan_run / "model.keras", compile=False)
    want = np.asarray(
        model.serving_outputs(pixels.astype(np.float32) / 255.0)["category_probabilities"]
    )
    ports = free_ports(3)
    with server.TritonServer(str(repo), *ports, log_path=str(repo / "server.log")) as s:
        s.wait_model_ready("infogan_python", timeout=180)
        client = httpclient.InferenceServerClient(s.url("http"))
        request = httpclient.InferInput("image", list(pixels.shape), "UINT8")
        request.set_data_from_numpy(pixels)
        try:
            got = client.infer("infogan_python", [request]).as_numpy("category_probabilities")
        finally:
            client.close()  # an open keep-alive connection delays the server's stop
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert got.shape == (5, 5)


@prefetched()
def k_sweep_run(tmp_path_factory):
    """The workdir of a k sweep over (2, 3), one epoch each."""
    tmp_path = tmp_path_factory.mktemp("k_sweep")
    flags = [f for f in TINY if "epochs" not in f and "n_test" not in f]
    flags += ["--config.train.epochs=1", "--config.data.phantoms.n_test=10"]
    proc = run_python(trainer_args("infowgan", tmp_path, *flags, "--config.infogan.k_sweep=(2,3)"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return tmp_path


def test_k_sweep_trains_once_per_k_and_tabulates_purity_and_entropy(k_sweep_run):
    tmp_path = k_sweep_run
    with open(tmp_path / "k_sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["k"]) for r in rows] == [2, 3]
    for row in rows:
        k = int(row["k"])
        sub = json.loads((tmp_path / f"k{k}" / "report.json").read_text())
        q = sub["clustering"]["infowgan_q"]
        assert len(sub["classes"]) == k and q["n_clusters"] <= k
        assert float(row["purity"]) == pytest.approx(q["purity"])
        assert float(row["entropy"]) == pytest.approx(q["entropy"])
    assert Image.open(tmp_path / "k_sweep.png").size[0] > 100
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["k"] for r in report["k_sweep"]] == [2, 3]
