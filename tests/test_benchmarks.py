"""The step benchmarks run at tiny sizes: the G2C one reports every requested variant in one
process, the HistoGAN step one its figures (`images/s: X` last) or, with --variants, one
line per graph / XLA / bf16 variant and a table, and the selection one its figures."""

import concurrent.futures
import re

import pytest
from conftest import run_python


def benchmark(*args):
    """Marks a test with the `python args...` run whose output it checks (see `proc`)."""
    return pytest.mark.benchmark_command(args)


@pytest.fixture(scope="module")
def _runs(request):
    """The benchmark of every selected test of this module, all started when the first one
    is needed, two at a time: most of a run is importing TensorFlow and tracing
    (single-threaded Python), so two processes share a small CI machine's two cores.
    {test name: Future of its CompletedProcess}."""
    items = [item for item in request.session.items if item.path == request.path]
    pool = concurrent.futures.ThreadPoolExecutor(2)
    try:
        yield {
            item.name: pool.submit(run_python, list(marker.args[0]))
            for item in items
            if (marker := item.get_closest_marker("benchmark_command"))
        }
    finally:
        pool.shutdown(cancel_futures=True)  # after a stop (-x, Ctrl-C): no new starts


@pytest.fixture
def proc(_runs, request):
    """The finished run of this test's `benchmark(...)` command."""
    return _runs[request.node.name].result()


@benchmark(
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
)
def test_g2c_step_benchmark_reports_each_variant(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.findall(r"G2C (\w+) step", proc.stdout) == ["PAS_ONLY", "PAS_ALL_PLUS"]
    rates = [float(x) for x in re.findall(r"images/s: ([0-9.]+)", proc.stdout)]
    assert len(rates) == 2 and all(r > 0 for r in rates)
    attention = re.findall(r"attention ([0-9,]+)\)", proc.stdout)
    assert attention[0] == "0" and attention[1] != "0"


# The smallest step there is: tracing the unrolled critic and generator updates
# still takes ~25 s on a loaded core.
@benchmark(
    "-m",
    "benchmarks.histogan_step",
    "--size=32",
    "--stages=2",
    "--channels=8",
    "--batch=2",
    "--n_critic=1",
    "--steps=1",
)
def test_histogan_step_benchmark_reports_images_per_second(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert "(2 real images per step)" in lines[0] and "critic_norm=batch" in lines[0]
    assert re.search(
        r"params: generator [0-9,]+, critics [0-9,]+ \([0-9,]+, [0-9,]+\)", proc.stdout
    )
    assert re.search(r"first step \(tracing included\): [0-9.]+ s", proc.stdout)
    assert float(re.fullmatch(r"images/s: ([0-9.]+)", lines[-1])[1]) > 0


# One stage: the smallest trace (XLA then compiles it: ~30 s on a loaded core).
@benchmark(
    "-m",
    "benchmarks.histogan_step",
    "--size=32",
    "--stages=1",
    "--channels=8",
    "--batch=2",
    "--n_critic=1",
    "--steps=1",
    "--variants=graph,xla,bf16",
)
def test_histogan_step_benchmark_times_each_variant_in_one_run(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert "(2 real images per step)" in lines[0] and "jit=" not in lines[0]
    expected = [
        ("graph", "False", "float32"),
        ("xla", "True", "float32"),
        ("bf16", "False", "mixed_bfloat16"),
    ]
    reported = re.findall(
        r"^(\w+): jit=(\w+) precision=(\w+) .*images/s: ([0-9.]+)$", proc.stdout, re.M
    )
    assert [r[:3] for r in reported] == expected and all(float(r[3]) > 0 for r in reported)
    table = lines[-3:]
    assert [row.split()[:3] for row in table] == [list(e) for e in expected]
    assert lines[-4].split()[0] == "variant" and "failed" not in proc.stdout


@benchmark(
    "-m",
    "benchmarks.histogan_selection",
    "--size=32",
    "--n=8",
    "--batch=4",
    "--passes=2",
    "--widths=8,16",
    "--blocks_per_unit=1",
    "--stem_width=8",
)
def test_histogan_selection_benchmark_reports_images_per_second(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert "n=8 real=4 kept=2" in lines[0] and "widths=(8, 16)" in lines[0]
    assert re.search(r"generation .*: [0-9.]+ s for 8 images", proc.stdout)
    assert re.search(r"select_class \(centroid \+ 8 images scored\): [0-9.]+ s", proc.stdout)
    assert float(re.fullmatch(r"images/s: ([0-9.]+)", lines[-1])[1]) > 0


@benchmark(
    "-m",
    "benchmarks.infowgan_step",
    "--size=16",
    "--channels=8",
    "--batch=2",
    "--n_critic=2",
    "--steps=1",
)
def test_infogan_step_benchmark_counts_the_cells_the_critic_sees(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert "(4 real images per step)" in lines[0] and "jit=False" in lines[0]
    assert re.search(r"params: generator [0-9,]+, critic \(D and Q\) [0-9,]+", proc.stdout)
    assert float(re.fullmatch(r"images/s: ([0-9.]+)", lines[-1])[1]) > 0


@benchmark("-m", "benchmarks.nuclei_pipeline", "--size=128", "--tiles=2")
def test_nuclei_pipeline_benchmark_reports_tiles_per_second(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert float(re.search(r"nuclei per tile: ([0-9.]+)", proc.stdout)[1]) > 0
    assert float(re.fullmatch(r"tiles/s: ([0-9.]+)", lines[-1])[1]) > 0


@benchmark(
    "-m",
    "benchmarks.translate_slide",
    "--sizes=256,384",
    "--window=64",
    "--ngf=4",
    "--n_blocks=1",
    "--batch_size=4",
    "--peak_steps=2",
)
def test_translate_slide_benchmark_reports_each_size(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert "ResnetGenerator(ngf=4, n_blocks=1), window 64" in lines[0]
    sizes = re.findall(
        r"^(\d+) x \d+: (\d+) windows .* peak RSS (\d+) MiB, ([0-9.]+) %", proc.stdout, re.M
    )
    assert [(s, n) for s, n, _, _ in sizes] == [("256", "49"), ("384", "121")]
    assert all(float(f) > 0 for *_, f in sizes)
    assert float(re.search(r"generator ceiling .* ([0-9.]+) windows/s", lines[1])[1]) > 0
    shares = re.findall(
        r"([0-9.]+) % of the generator ceiling \(([0-9.]+) % end to end", proc.stdout
    )
    assert len(shares) == 2 and all(0 < float(e) <= float(g) for g, e in shares)
    assert float(re.fullmatch(r"images/s: ([0-9.]+)", lines[-1])[1]) > 0


@benchmark("-m", "benchmarks.slide_analyses", "--size=1280")
def test_slide_analyses_benchmark_reports_accuracy_against_the_phantom_truth(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0][2:] for line in table[2:]] == [
        "ki67 level 0",
        "ki67 level 1",
        "cells",
        "mil",
    ]
    f_scores = [float(m) for m in re.findall(r"detection F ([0-9.]+)", proc.stdout)]
    assert len(f_scores) == 3 and min(f_scores) > 0.95
    assert re.search(r"images/s: [0-9.]+$", proc.stdout.strip())


def test_bench_table_runs_each_setting_and_writes_one_table(tmp_path):
    out = tmp_path / "bench"
    args = ["-m", "benchmarks.table", f"--out={out}", "--quick", "--only=cyclegan",
            "--settings=graph,xla_bf16", "--nopeers"]  # fmt: skip
    proc = run_python(args)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    table = (out / "bench.md").read_text()
    assert table.startswith("Measured ") and "cores" in table and "PyTorch peers: not run" in table
    rows = re.findall(r"^\| CycleGAN training step, batch 1, 32 px \| (.+?) \| ([0-9.]+) \| "
                      r"([0-9]+) MiB \|", table, re.M)  # fmt: skip
    assert [r[0] for r in rows] == ["float32", "bfloat16 + XLA"]
    assert all(float(rate) > 0 and int(memory) > 100 for _, rate, memory in rows)
    assert len(list((out / "logs").glob("*_cyclegan_ours.log"))) == 2
    bad = run_python(["-m", "benchmarks.table", f"--out={out}", "--settings=fp8"])
    assert bad.returncode == 2 and "--settings: ['fp8']" in bad.stderr
