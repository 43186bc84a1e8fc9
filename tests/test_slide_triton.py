"""The slide tools against a real tritonserver: the same slide gives the same GeoJSON as the
in-process path (an InfoWGAN-GP's categories, a MIL run's instance scores), over HTTP and
gRPC, and the Triton path runs without TensorFlow in the client process."""

import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import free_ports, run_python

from kerasg2c.mil import slide_scores
from kerasg2c.models import MILClassifier
from kerasg2c.models.infowgan import InfoWGANGP
from kerasg2c.pathology import cell_slide
from kerasg2c.phantoms import cell_slides, mil_slides
from serving import export, server

try:
    server.find_tritonserver()
    _MISSING = ""
except RuntimeError as e:
    _MISSING = str(e)
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"no tritonserver: {_MISSING}")


def _run_folder(folder, model, image_size, report):
    folder.mkdir()
    model.save(folder / "model.keras")
    (folder / "config.json").write_text(json.dumps({"data": {"image_size": image_size}}))
    (folder / "report.json").write_text(json.dumps(report))
    return folder


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(root, runs, ports): an InfoWGAN-GP and a MIL run (untrained weights: the test is
    about the path), exported and served; the phantom slides they read."""
    root = tmp_path_factory.mktemp("slide_triton")
    q = InfoWGANGP(categories=3, channels=8, image_size=32)
    q(tf.zeros((1, 32, 32, 3)))
    mil = MILClassifier(instance_size=32, widths=(8, 8), blocks_per_unit=1, stem_width=8,
                        sync_batchnorm=False)  # fmt: skip
    mil(tf.zeros((1, 32, 32, 3)))
    runs = {
        "infogan": _run_folder(root / "infogan", q, 32, {"trainer": "infowgan"}),
        "mil": _run_folder(root / "mil", mil, 256, {"trainer": "mil", "instance_size": 32,
                                                    "classes": ["normal", "tumour"]}),
    }  # fmt: skip
    repo = root / "repository"
    for name, folder in runs.items():
        (exportable,) = export.find_exportables(str(folder), name)
        export.export_model(exportable, str(repo), formats=("python",))
    cell_slides.write_slide(root / "cells", height=512, width=768, seed=5)
    mil_slides.write_slide(root / "milslide", height=768, width=768, seed=5)
    ports = free_ports(3)
    with server.TritonServer(str(repo), *ports, log_path=str(root / "server.log")) as s:
        for name in ("infogan_python", "mil_python"):
            s.wait_model_ready(name, timeout=180)
        yield root, runs, ports


def _features(path):
    return json.loads(path.read_text())["features"]


def test_cells_over_http_match_the_in_process_model(served):
    root, runs, (http, _, _) = served
    slide = root / "cells" / "HE.tif"
    categorise, k, size = cell_slide.load_run(runs["infogan"])  # in this process
    (root / "cells_local").mkdir()
    cell_slide.analyse(slide, root / "cells_local", categorise=categorise, categories=k,
                       image_size=size)  # fmt: skip
    check = (
        "import runpy, sys\n"
        "sys.argv = sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_module('kerasg2c.tools.slide_cells', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        "assert 'tensorflow' not in sys.modules, 'the Triton path imported TensorFlow'\n"
        "sys.exit(code)\n"
    )
    remote = run_python(
        ["-c", check, "slide_cells", f"--slide={slide}", f"--out={root}/cells_triton",
         f"--triton_url=127.0.0.1:{http}", "--triton_model=infogan_python", "--in_flight=3"]
    )  # fmt: skip
    assert remote.returncode == 0, remote.stderr[-2000:]
    a, b = (
        _features(root / "cells_local/cells.geojson"),
        _features(root / "cells_triton/HE/cells.geojson"),
    )
    assert len(a) == len(b) > 50
    for x, y in zip(a, b):
        assert x["geometry"] == y["geometry"]
        assert x["properties"].get("classification") == y["properties"].get("classification")
        if x["properties"]["objectType"] == "detection":
            p, q = (f["properties"]["measurements"]["Category probability"] for f in (x, y))
            assert p == pytest.approx(q, abs=1e-3)


def test_mil_over_grpc_matches_the_in_process_model(served):
    root, runs, (_, grpc, _) = served
    slide = root / "milslide" / "HE.tif"
    score_blocks, instance_size, block = slide_scores.load_run(runs["mil"])  # in this process
    (root / "mil_local").mkdir()
    slide_scores.analyse(slide, root / "mil_local", score_blocks=score_blocks,
                         instance_size=instance_size, block=block)  # fmt: skip
    tool = ["-m", "kerasg2c.tools.slide_mil", f"--slide={slide}"]
    remote = run_python([*tool, f"--out={root}/mil_triton", f"--triton_url=127.0.0.1:{grpc}",
                         "--triton_model=mil_python", "--protocol=grpc"])  # fmt: skip
    assert remote.returncode == 0, remote.stderr[-2000:]
    a = np.load(root / "mil_local/mil_scores.npy")
    b = np.load(root / "mil_triton/HE/mil_scores.npy")
    assert np.isfinite(a).sum() > 100
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], atol=1e-4)


def test_a_wrong_model_or_a_missing_server_exits_2(served):
    root, _, (http, _, _) = served
    tool = ["-m", "kerasg2c.tools.slide_mil", f"--slide={root / 'milslide' / 'HE.tif'}",
            f"--out={root}/bad"]  # fmt: skip
    wrong = run_python([*tool, f"--triton_url=127.0.0.1:{http}", "--triton_model=infogan_python"])
    assert wrong.returncode == 2 and "instance_scores" in wrong.stderr
    (port,) = free_ports(1)
    gone = run_python([*tool, f"--triton_url=127.0.0.1:{port}", "--triton_model=mil_python"])
    assert gone.returncode == 2 and "no Triton server answers" in gone.stderr
