"""Triton Inference Server on a model repository (`python -m serving.server`, whose usage is
in `serving/server/__main__.py`).

Modules: `binary` (finding or fetching the tritonserver binary, the Python backend's
environment), `options` (address, ports, admin key, TLS, command line: `ServerOptions`) and
`process` (starting, health, stopping: `TritonServer`; free ports). The names below are this
package's public interface.
"""

from serving.server.binary import (
    PYTRITON,
    cache_dir,
    find_tritonserver,
    prepare_pytriton_server,
    python_backend_parameters,
)
from serving.server.options import (
    ADMIN_APIS,
    ADMIN_HEADER,
    ADMIN_KEY_ENV,
    STUB_TIMEOUT_SECONDS,
    ServerOptions,
    is_loopback,
)
from serving.server.process import TritonServer, free_ports, port_free

__all__ = [
    "ADMIN_APIS",
    "ADMIN_HEADER",
    "ADMIN_KEY_ENV",
    "PYTRITON",
    "STUB_TIMEOUT_SECONDS",
    "ServerOptions",
    "TritonServer",
    "cache_dir",
    "find_tritonserver",
    "free_ports",
    "is_loopback",
    "port_free",
    "prepare_pytriton_server",
    "python_backend_parameters",
]
