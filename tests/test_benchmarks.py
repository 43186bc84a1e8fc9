"""The G2C step benchmark runs every requested variant in one process and reports each."""

import re

from conftest import run_python


def test_g2c_step_benchmark_reports_each_variant():
    proc = run_python(
        [
            "-m",
            "benchmarks.g2c_step",
            "--size=32",
            "--batch=2",
            "--steps=1",
            "--widths=8,16",
            "--stem_width=8",
            "--ngf=4",
            "--n_blocks=1",
            "--variants=PAS_ONLY,PAS_ALL_PLUS",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.findall(r"G2C (\w+) step", proc.stdout) == ["PAS_ONLY", "PAS_ALL_PLUS"]
    rates = [float(x) for x in re.findall(r"images/s: ([0-9.]+)", proc.stdout)]
    assert len(rates) == 2 and all(r > 0 for r in rates)
    attention = re.findall(r"attention ([0-9,]+)\)", proc.stdout)
    assert attention[0] == "0" and attention[1] != "0"
