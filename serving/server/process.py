"""Runs Triton Inference Server on a model repository.

    python -m serving.server --repository=REPO [--http-port=8000 --grpc-port=8001 \
        --metrics-port=8002] [--host=127.0.0.1] [--admin_key=KEY] \
        [--tls_cert=CERT.pem --tls_key=KEY.pem] [--tritonserver=PATH]

The server listens on 127.0.0.1 only unless --host opens it (0.0.0.0 = every interface).
Opened beyond loopback, it needs an admin key (--admin_key or $KERASG2C_ADMIN_KEY): the
administrative APIs (model repository and model control, statistics, trace, logging, shared
memory) then answer only requests carrying the header `admin-key: KEY` (Triton's
--http-restricted-api / --grpc-restricted-protocol); health, metadata, model configuration and
inference stay open. --tls_cert/--tls_key serve gRPC over TLS; Triton's HTTP endpoint has no
TLS, so put a TLS-terminating proxy in front of it when it leaves the machine.

The server binary is --tritonserver, else `tritonserver` on PATH (an NGC container), else the
CPU-capable Triton 2.51 inside the nvidia-pytriton wheel: fetched once with `pip download` (not
installed: its Python API pins numpy<2) and unpacked, libraries and Python-backend stub in place,
under $KERASG2C_CACHE or ~/.cache/kerasg2c (tritonserver/). The server keeps running when a model
fails to load; `TritonServer.wait_model_ready` says which model and why. Python-backend models
run in this interpreter's environment (`python_backend_parameters`); with numpy 2 they must pass
tensors by DLPack (`np.from_dlpack`, `pb_utils.Tensor.from_dlpack`): the stub's `as_numpy()` and
`pb_utils.Tensor(name, array)` are built for numpy 1 and silently read zeros / send nothing.
"""

import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import zipfile

from absl import app, flags

PYTRITON = "nvidia-pytriton==0.7.0"
ADMIN_HEADER = "admin-key"
ADMIN_KEY_ENV = "KERASG2C_ADMIN_KEY"
# Triton APIs only the admin key opens; health, metadata, model-config and inference stay open.
ADMIN_APIS = ("model-repository", "statistics", "trace", "logging", "shared-memory")
# Seconds the server waits for a Python-backend stub to start (the backend default is 30).
STUB_TIMEOUT_SECONDS = 120


def cache_dir() -> str:
    """Where the wheel's server is unpacked: $KERASG2C_CACHE or ~/.cache/kerasg2c, /tritonserver."""
    root = os.environ.get("KERASG2C_CACHE") or os.path.join("~", ".cache", "kerasg2c")
    return os.path.join(os.path.expanduser(root), "tritonserver")


def prepare_pytriton_server(cache: str | None = None) -> str:
    """The tritonserver binary of the nvidia-pytriton wheel, unpacked once under `cache` with the
    stub for this Python in backends/python; RuntimeError naming what failed."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    folder = os.path.join(cache or cache_dir(), f"{PYTRITON.replace('==', '-')}-py{version}")
    binary = os.path.join(folder, "pytriton", "tritonserver", "bin", "tritonserver")
    if os.access(binary, os.X_OK):
        return binary
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(folder)) as tmp:
        pip = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", PYTRITON, "-d", tmp],
            capture_output=True,
            text=True,
        )
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if pip.returncode or not wheels:
            raise RuntimeError(
                f"no tritonserver: pass --tritonserver=PATH, put tritonserver on PATH (NGC "
                f"container), or let `pip download --no-deps {PYTRITON}` work; it failed:\n"
                + pip.stderr[-2000:]
            )
        unpacked = os.path.join(tmp, "unpacked")
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as wheel:
            for info in wheel.infolist():
                if info.filename.startswith(("pytriton/tritonserver/", "nvidia_pytriton.libs/")):
                    path = wheel.extract(info, unpacked)
                    os.chmod(path, 0o755 if (info.external_attr >> 16) & 0o111 else 0o644)
        server = os.path.join(unpacked, "pytriton", "tritonserver")
        stub = os.path.join(server, "python_backend_stubs", version, "triton_python_backend_stub")
        if not os.path.isfile(stub):
            raise RuntimeError(f"{PYTRITON} has no Python-backend stub for Python {version}")
        shutil.copy2(stub, os.path.join(server, "backends", "python"))
        try:
            os.rename(unpacked, folder)
        except OSError:  # another process prepared it first
            if not os.access(binary, os.X_OK):
                raise
    return binary


def find_tritonserver(path: str | None = None) -> str:
    """`path`, else `tritonserver` on PATH, else the prepared nvidia-pytriton binary."""
    if path:
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"--tritonserver={path} is not an executable file")
        return os.path.abspath(path)
    return shutil.which("tritonserver") or prepare_pytriton_server()


def python_backend_parameters() -> dict[str, str]:
    """config.pbtxt parameters making Python-backend models run in this environment: the
    virtual environment (with bin/activate) as EXECUTION_ENV_PATH; none outside one."""
    if os.path.isfile(os.path.join(sys.prefix, "bin", "activate")):
        return {"EXECUTION_ENV_PATH": sys.prefix}
    return {}


def is_loopback(host: str) -> bool:
    """Whether `host` ("127.0.0.1", "::1", "localhost", ...) is reachable only from this
    machine; 0.0.0.0, :: and any other address or name are not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_free(port: int) -> bool:
    """Whether a server could listen on `port` (all interfaces, as tritonserver does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports nothing listens on now (the OS picks them)."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class TritonServer:
    """A tritonserver process on `repository`; a context manager that starts and stops it.

    It binds HTTP, gRPC and metrics to `host` (loopback by default). `admin_key` restricts
    the administrative APIs (ADMIN_APIS) to requests with the header `admin-key: KEY`; a host
    other than loopback requires one. `tls_cert`/`tls_key` (PEM files) put gRPC behind TLS.
    """

    def __init__(
        self,
        repository,
        http_port=8000,
        grpc_port=8001,
        metrics_port=8002,
        tritonserver=None,
        log_path=None,
        host="127.0.0.1",
        admin_key=None,
        tls_cert=None,
        tls_key=None,
    ):
        self.repository = os.path.abspath(repository)
        self.ports = {"http": http_port, "grpc": grpc_port, "metrics": metrics_port}
        self.tritonserver = tritonserver
        self.log_path = log_path
        self.host = host
        self.admin_key = admin_key or None
        if not is_loopback(host) and not self.admin_key:
            raise ValueError(
                f"--host={host} opens the server beyond this machine: set an admin key "
                f"(--admin_key or ${ADMIN_KEY_ENV}) so that only its holder can load, unload "
                "or list models"
            )
        if bool(tls_cert) != bool(tls_key):
            raise ValueError("TLS needs both --tls_cert and --tls_key")
        for path in (tls_cert, tls_key):
            if path and not os.path.isfile(path):
                raise ValueError(f"no such TLS file: {path}")
        self.tls = (os.path.abspath(tls_cert), os.path.abspath(tls_key)) if tls_cert else None
        self.process = None

    @property
    def connect_host(self) -> str:
        """Where clients on this machine reach the server: loopback when it binds every
        interface, else the bound address."""
        return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)

    def url(self, protocol="http") -> str:
        """'<host>:<port>' of "http", "grpc" or "metrics", as reached from this machine."""
        host = self.connect_host
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{self.ports[protocol]}"

    def admin_headers(self) -> dict:
        """The header that opens the administrative APIs ({} without an admin key)."""
        return {ADMIN_HEADER: self.admin_key} if self.admin_key else {}

    def command(self, binary: str) -> list[str]:
        """The tritonserver command line; a model that fails to load leaves the server up."""
        command = [binary, f"--model-repository={self.repository}"]
        backends = os.path.join(os.path.dirname(os.path.dirname(binary)), "backends")
        if os.path.isdir(backends):
            command.append(f"--backend-directory={backends}")
        command += [f"--{name}-port={port}" for name, port in self.ports.items()]
        command += [f"--{name}-address={self.host}" for name in self.ports]
        if self.admin_key:
            rule = f"{','.join(ADMIN_APIS)}:{ADMIN_HEADER}={self.admin_key}"
            command += [f"--http-restricted-api={rule}", f"--grpc-restricted-protocol={rule}"]
        if self.tls:
            command += [
                "--grpc-use-ssl=true",
                f"--grpc-server-cert={self.tls[0]}",
                f"--grpc-server-key={self.tls[1]}",
            ]
        # A Python-backend stub imports TensorFlow before it answers the server: on a loaded
        # CPU that can take longer than the backend's 30 s default, after which the server
        # aborts (boost::interprocess::lock_exception). Triton's own tests use 120 s.
        command.append(f"--backend-config=python,stub-timeout-seconds={STUB_TIMEOUT_SECONDS}")
        return command + ["--exit-on-error=false", "--strict-readiness=false"]

    def start(self, timeout: float = 120.0) -> "TritonServer":
        """Launches the server and returns once it answers /v2/health/ready; on failure or
        timeout stops it and raises with the tail of its log."""
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
        is not gone after `timeout` s; returns once the ports are free."""
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
        """The last `lines` lines of the server log."""
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
        or is not in the repository, TimeoutError after `timeout` s."""
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


def define_flags() -> None:
    """The CLI's flags (defined only when run as a program, so that importing this module
    next to other CLIs defines nothing)."""
    flags.DEFINE_string("repository", None, "Triton model repository to serve.")
    flags.DEFINE_integer("http-port", 8000, "HTTP/REST port.")
    flags.DEFINE_integer("grpc-port", 8001, "gRPC port.")
    flags.DEFINE_integer("metrics-port", 8002, "Prometheus metrics port.")
    flags.DEFINE_string(
        "host",
        "127.0.0.1",
        "Address HTTP, gRPC and metrics bind to; 0.0.0.0 opens every interface (needs an "
        "admin key).",
    )
    flags.DEFINE_string(
        "admin_key",
        None,
        f"Key (header '{ADMIN_HEADER}') for the administrative APIs; default ${ADMIN_KEY_ENV}.",
    )
    flags.DEFINE_string("tls_cert", None, "PEM server certificate: serve gRPC over TLS.")
    flags.DEFINE_string("tls_key", None, "PEM private key of --tls_cert.")
    flags.DEFINE_string(
        "tritonserver",
        None,
        "tritonserver binary (default: on PATH, else the nvidia-pytriton one).",
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    if not FLAGS.repository:
        raise app.UsageError("--repository is required")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        server = TritonServer(
            FLAGS.repository,
            FLAGS["http-port"].value,
            FLAGS["grpc-port"].value,
            FLAGS["metrics-port"].value,
            tritonserver=FLAGS.tritonserver,
            host=FLAGS.host,
            admin_key=FLAGS.admin_key or os.environ.get(ADMIN_KEY_ENV),
            tls_cert=FLAGS.tls_cert,
            tls_key=FLAGS.tls_key,
        )
        server.start()
    except (RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        print(f"listening on {server.host}", flush=True)
        if not is_loopback(server.host):
            print(
                f"warning: {server.host} is not loopback: anyone who can reach this machine "
                f"can run inference; administrative APIs need the '{ADMIN_HEADER}' header",
                file=sys.stderr,
                flush=True,
            )
        for protocol in server.ports:
            tls = " (TLS)" if protocol == "grpc" and server.tls else ""
            print(f"{protocol}: {server.url(protocol)}{tls}")
        for m in server.models():
            reason = f" ({m['reason']})" if m.get("reason") else ""
            print(f"model {m['name']} version {m.get('version', '-')}: {m.get('state')}{reason}")
        print(f"serving {server.repository} (log {server.log_path}); Ctrl-C stops", flush=True)
        while not stopping.wait(1.0):
            if server.exited():
                print(f"error: tritonserver exited:\n{server.log_tail()}", file=sys.stderr)
                return 1
    finally:
        server.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
