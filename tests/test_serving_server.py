"""serving.server: a real tritonserver on a hand-written Python-backend repository, answered by
tritonclient over HTTP and gRPC; the process group and the ports are gone after it stops.
Who may reach it (loopback, admin key, TLS): test_serving_security.py."""

import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from conftest import REPO, free_ports
from triton_repository import add_one_repository, infer, needs_tritonserver, write_model
from tritonclient.utils import InferenceServerException

from serving import server

pytestmark = needs_tritonserver

_BROKEN = """
class TritonPythonModel:
    def initialize(self, args):
        raise ValueError("this model is meant to fail")
"""


@pytest.fixture
def repository(tmp_path):
    return add_one_repository(tmp_path / "models")


def _assert_gone(pid, ports):
    """No process is left in the server's group and every port can be bound again."""
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_serves_http_and_grpc_then_frees_everything(repository, tmp_path):
    write_model(repository, "broken", _BROKEN)
    ports = free_ports(3)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    with server.TritonServer(repository, *ports, log_path=tmp_path / "server.log") as triton:
        pid = triton.process.pid
        triton.wait_model_ready("add_one", timeout=60)
        with pytest.raises(RuntimeError, match="this model is meant to fail"):
            triton.wait_model_ready("broken", timeout=60)
        with pytest.raises(RuntimeError, match="no model 'absent'"):
            triton.wait_model_ready("absent")

        np.testing.assert_array_equal(infer(httpclient, triton.url("http"), x), x + 1)
        np.testing.assert_array_equal(infer(grpcclient, triton.url("grpc"), x), x + 1)

        with pytest.raises(InferenceServerException, match=r"unexpected shape.*\[-1,4\]") as e:
            infer(httpclient, triton.url("http"), np.zeros((2, 3), np.float32))
        assert e.value.status() == "400"
        with pytest.raises(InferenceServerException, match="unexpected shape"):
            infer(grpcclient, triton.url("grpc"), np.zeros((2, 3), np.float32))
        np.testing.assert_array_equal(infer(httpclient, triton.url("http"), x[:1]), x[:1] + 1)
    assert triton.process is None
    _assert_gone(pid, ports)


def test_stops_when_the_body_raises(repository):
    ports = free_ports(3)
    with pytest.raises(KeyError, match="body failed"):
        with server.TritonServer(repository, *ports) as triton:
            pid = triton.process.pid
            raise KeyError("body failed")
    _assert_gone(pid, ports)


def test_refuses_a_missing_repository_and_busy_ports(repository, tmp_path):
    with pytest.raises(RuntimeError, match="no model repository at"):
        server.TritonServer(tmp_path / "absent", *free_ports(3)).start()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        http, metrics = free_ports(2)
        with pytest.raises(RuntimeError, match=f"ports in use: grpc {port}"):
            server.TritonServer(repository, http, port, metrics).start()


def test_cli_serves_until_sigint(repository):
    ports = free_ports(3)
    flags = [f"--{n}-port={p}" for n, p in zip(("http", "grpc", "metrics"), ports)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving.server", f"--repository={repository}", *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("serving "):
                break
        assert f"http: 127.0.0.1:{ports[0]}\n" in lines, lines
        assert "model add_one version 1: READY\n" in lines, lines
        x = np.arange(4, dtype=np.float32)[None]
        np.testing.assert_array_equal(infer(httpclient, f"127.0.0.1:{ports[0]}", x), x + 1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.strip().endswith("stopped")
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
