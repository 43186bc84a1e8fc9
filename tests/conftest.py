"""Shared helpers for the test suite."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(args, env=None, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    """Runs `python args...` from the repository root; fails the test with its output."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )
    return proc


def signal_at(args, line: str, signum) -> tuple[int, str]:
    """Runs `python args...`, sends `signum` once a stderr line contains `line`;
    returns (exit code, stderr after that line)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True
    )
    for seen in proc.stderr:
        if line in seen:
            proc.send_signal(signum)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    return proc.returncode, rest


def trainer_args(name: str, workdir, *flags) -> list:
    """`python -m trainers.<name> --config=configs/<name>.py --config.workdir=...` arguments."""
    return [
        "-m",
        f"trainers.{name}",
        f"--config=configs/{name}.py",
        f"--config.workdir={workdir}",
        *flags,
    ]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def load_npz(path) -> list[np.ndarray]:
    with np.load(path) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


def max_abs_diff(a, b) -> float:
    assert len(a) == len(b)
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


@pytest.fixture
def repo():
    return REPO


@pytest.fixture(autouse=True)
def _seeded():
    """Every in-process test starts from the same seeds, so a pass is repeatable."""
    import keras

    keras.utils.set_random_seed(0)
