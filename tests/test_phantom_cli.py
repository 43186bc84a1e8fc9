"""The phantom writers' command lines: one way to refuse, one way to report."""

import json
import re

import pytest

from tests.conftest import run_python

WRITERS = (
    "glomeruli",
    "slides",
    "mil_tiles",
    "ihc",
    "cells",
    "ki67_slides",
    "mil_slides",
    "cell_slides",
)


@pytest.mark.parametrize("name", WRITERS)
def test_a_writer_without_out_exits_2(name):
    proc = run_python(["-m", f"kerasg2c.phantoms.{name}"])
    assert proc.returncode == 2, proc.stderr
    assert "--out" in proc.stderr and "must be given" in proc.stderr


def test_cells_refuses_an_unknown_kind(tmp_path):
    proc = run_python(
        ["-m", "kerasg2c.phantoms.cells", f"--out={tmp_path}", "--kinds=cells,nuclei"]
    )
    assert proc.returncode == 2
    assert "['nuclei']" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_writer_logs_its_summary_and_preview(tmp_path):
    out, png = tmp_path / "ihc", tmp_path / "ihc.png"
    args = ["-m", "kerasg2c.phantoms.ihc", f"--out={out}", f"--preview={png}"]
    args += ["--n_train=2", "--n_val=1", "--n_test=1", "--n_reference=1", "--size=64"]
    proc = run_python(args)
    assert proc.returncode == 0, proc.stderr
    summary = re.search(r"ihc phantoms: (\{.*\}) \(\d+\.\d s\)", proc.stderr)
    assert json.loads(summary.group(1))["path"] == str(out)
    assert f"ihc phantoms: preview written to {png}" in proc.stderr
    assert png.stat().st_size > 0 and (out / "labeled" / "train").is_dir()
