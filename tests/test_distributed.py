"""The training loop gives the same model on one device, two replicas, two
worker processes (MultiWorkerMirroredStrategy over 127.0.0.1) and under XLA."""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, free_ports, load_npz, max_abs_diff, prefetched, run_python

WORKER = os.path.join("tests", "workers", "train_worker.py")
# float32 sums in another order (per-replica partial sums, XLA fusion) after 8
# SGD steps: differences are round-off, orders of magnitude below a real bug
# (a wrong loss scale changes weights by ~1e-2).
TOLERANCE = 1e-4


def train(workdir, *flags):
    proc = run_python([WORKER, f"--workdir={workdir}", *flags])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return load_npz(os.path.join(workdir, "0_weights.npz"))


@prefetched()
def single(tmp_path_factory):
    return train(tmp_path_factory.mktemp("single"))


def test_two_mirrored_replicas_match_one_device(single, tmp_path):
    mirrored = train(tmp_path, "--strategy=mirrored", "--replicas=2")
    assert max_abs_diff(single, mirrored) < TOLERANCE


def test_xla_matches_graph_mode(single, tmp_path):
    xla = train(tmp_path, "--jit")
    assert max_abs_diff(single, xla) < TOLERANCE


@pytest.mark.slow
def test_two_workers_train_in_lock_step(single, tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, WORKER, f"--workdir={tmp_path}", "--strategy=multi_worker"],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
    chief, worker = (load_npz(tmp_path / f"{i}_weights.npz") for i in range(2))
    assert max_abs_diff(chief, worker) == 0.0
    assert max_abs_diff(chief, single) < TOLERANCE
    # Only the chief keeps checkpoints.
    assert os.listdir(tmp_path / "checkpoints")
    assert not (tmp_path / "checkpoints_scratch" / "worker_1").exists()
