"""How a tritonserver is configured: address, ports, admin key, TLS and its command line.

The server listens on 127.0.0.1 only unless --host opens it (0.0.0.0 = every interface).
Opened beyond loopback, it needs an admin key (--admin_key or $KERASG2C_ADMIN_KEY): the
administrative APIs (model repository and model control, statistics, trace, logging, shared
memory) then answer only requests carrying the header `admin-key: KEY` (Triton's
--http-restricted-api / --grpc-restricted-protocol); health, metadata, model configuration and
inference stay open. --tls_cert/--tls_key serve gRPC over TLS; Triton's HTTP endpoint has no
TLS, so put a TLS-terminating proxy in front of it when it leaves the machine. A model that
fails to load leaves the server up (--exit-on-error=false).
"""

import ipaddress
import os

ADMIN_HEADER = "admin-key"
ADMIN_KEY_ENV = "KERASG2C_ADMIN_KEY"
# Triton APIs only the admin key opens; health, metadata, model-config and inference stay open.
ADMIN_APIS = ("model-repository", "statistics", "trace", "logging", "shared-memory")
# Seconds the server waits for a Python-backend stub to start (the backend default is 30).
STUB_TIMEOUT_SECONDS = 120


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine; 0.0.0.0, :: and any other address
    or name are not.

    Args:
        host: an address or name ("127.0.0.1", "::1", "localhost", ...).

    Examples:

        is_loopback("::1"), is_loopback("0.0.0.0")  # True, False
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServerOptions:
    """The configuration of a tritonserver on `repository`, checked when made.

    It binds HTTP, gRPC and metrics to `host` (loopback by default). `admin_key` restricts
    the administrative APIs (ADMIN_APIS) to requests with the header `admin-key: KEY`; a host
    other than loopback requires one (ValueError otherwise). `tls_cert`/`tls_key` (PEM files)
    put gRPC behind TLS. `log_path`: the server's log (default a temporary file, made at start).
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
        """The tritonserver command line; a model that fails to load leaves the server up.

        Args:
            binary: the tritonserver executable (`binary.find_tritonserver`); its sibling
                backends/ folder, if any, is the backend directory.
        """
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
