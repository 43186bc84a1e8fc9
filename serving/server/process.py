"""The tritonserver process: start it, wait until it is healthy, stop it and its process group,
and ask it about its models (`TritonServer`); free ports to run it on.

`TritonServer.start` returns once /v2/health/ready answers; `stop` sends SIGINT (Triton
finishes in-flight requests), then SIGKILL to the whole process group, and returns once the
ports are free. The server keeps running when a model fails to load;
`TritonServer.wait_model_ready` says which model and why.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time

from serving.server.binary import find_tritonserver
from serving.server.options import ServerOptions


def port_free(port: int) -> bool:
    """Whether a server could listen on `port` (all interfaces, as tritonserver does).

    Args:
        port: the TCP port.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports nothing listens on now (the OS picks them).

    Args:
        n: how many ports.

    Examples:

        http_port, grpc_port, metrics_port = free_ports(3)
    """
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class TritonServer(ServerOptions):
    """A tritonserver process on `repository`; a context manager that starts and stops it.

    Takes `ServerOptions`' arguments (repository, ports, tritonserver, log_path, host,
    admin_key, tls_cert, tls_key) and checks them the same way.

    Examples:

        with TritonServer("model_repository", *free_ports(3)) as server:
            server.wait_model_ready("g2c")
    """

    process = None  # the running subprocess.Popen, None when stopped

    def start(self, timeout: float = 120.0) -> "TritonServer":
        """Launches the server and returns once it answers /v2/health/ready; on failure or
        timeout stops it and raises with the tail of its log.

        Args:
            timeout: seconds to wait for readiness.
        """
        if not os.path.isdir(self.repository):
            raise RuntimeError(f"no model repository at {self.repository}")
        busy = [f"{name} {port}" for name, port in self.ports.items() if not port_free(port)]
        if busy:
            raise RuntimeError(f"ports in use: {', '.join(busy)}")
        binary = find_tritonserver(self.tritonserver)
        if self.log_path is None:
            fd, self.log_path = tempfile.mkstemp(prefix="tritonserver-", suffix=".log")
            os.close(fd)
        env = dict(os.environ)
        # The Python-backend stub must load this interpreter's libpython, not the system one.
        libdir = sysconfig.get_config_var("LIBDIR")
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (libdir, env.get("LD_LIBRARY_PATH")) if p
        )
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(binary),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:  # Ctrl-C and test timeouts too: leave no server behind
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (self._get("/v2/health/ready") or (None,))[0] != 200:
            if self.exited() or time.monotonic() > deadline:
                what = "exited" if self.exited() else f"not ready after {timeout:.0f} s"
                raise RuntimeError(f"tritonserver {what}; log {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGINT (Triton finishes in-flight requests), SIGKILL to the whole process group if it
        is not gone after `timeout` s; returns once the ports are free.

        Args:
            timeout: seconds Triton has to finish after SIGINT.
        """
        if self.process is None:
            return
        pid = self.process.pid
        if not self.exited():
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + timeout
            while not self.exited() and time.monotonic() < deadline:
                time.sleep(0.1)
        # The leader is not reaped yet, so its group id still names only its own processes
        # (Python-backend stubs included).
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.process = None
        deadline = time.monotonic() + 10
        while not all(port_free(p) for p in self.ports.values()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"ports {self.ports} still in use after tritonserver stopped")
            time.sleep(0.1)

    def exited(self) -> bool:
        """Whether the server process has ended (without reaping it)."""
        options = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self.process.pid, options) is not None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the server log.

        Args:
            lines: how many lines.
        """
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def _get(self, path: str, body: bytes | None = None):
        """(status, body) of a GET (POST with `body`) to the server; None when it does not
        answer. The client closes the connection, so no TIME_WAIT is left on the server's port."""
        connection = http.client.HTTPConnection(self.connect_host, self.ports["http"], timeout=5)
        try:
            method = "GET" if body is None else "POST"
            connection.request(method, path, body, headers=self.admin_headers())
            response = connection.getresponse()
            return response.status, response.read()
        except OSError:
            return None
        finally:
            connection.close()

    def models(self) -> list[dict]:
        """The repository index: [{name, version, state, reason}, ...]."""
        answer = self._get("/v2/repository/index", b"{}")
        if not answer or answer[0] != 200:
            raise RuntimeError(f"tritonserver at {self.url()} gives no repository index")
        return json.loads(answer[1])

    def wait_model_ready(self, name: str, timeout: float = 60.0) -> None:
        """Returns once model `name` is ready; RuntimeError with the reason if it failed to load
        or is not in the repository, TimeoutError after `timeout` s.

        Args:
            name: the model's name in the repository.
            timeout: seconds to wait.
        """
        deadline = time.monotonic() + timeout
        while (self._get(f"/v2/models/{name}/ready") or (None,))[0] != 200:
            entries = [m for m in self.models() if m["name"] == name]
            if not entries:
                raise RuntimeError(f"no model {name!r} in {self.repository}")
            if any(m.get("state") == "UNAVAILABLE" for m in entries):
                reasons = "; ".join(m.get("reason", "") for m in entries)
                raise RuntimeError(f"model {name!r} failed to load: {reasons}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"model {name!r} not ready after {timeout:.0f} s: {entries}")
            time.sleep(0.2)
