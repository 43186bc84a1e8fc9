"""Runs Triton Inference Server on a model repository (the `serving.server` CLI).

    python -m serving.server --repository=REPO [--http-port=8000 --grpc-port=8001 \
        --metrics-port=8002] [--host=127.0.0.1] [--admin_key=KEY] \
        [--tls_cert=CERT.pem --tls_key=KEY.pem] [--tritonserver=PATH]

It listens on 127.0.0.1 only unless --host opens it; opened beyond loopback it needs an
admin key for the administrative APIs, and --tls_cert/--tls_key serve gRPC over TLS (what each
protects, and what it does not: `serving.server.options`).

The server binary is --tritonserver, else `tritonserver` on PATH (an NGC container), else the
CPU-capable Triton 2.51 inside the nvidia-pytriton wheel, fetched once under $KERASG2C_CACHE or
~/.cache/kerasg2c (`serving.server.binary`). The server keeps running when a model fails to
load; the models and their states are printed at start (`serving.server.process`).

Examples:

    python -m serving.server --repository=runs/model_repository
    KERASG2C_ADMIN_KEY=secret python -m serving.server --repository=repo --host=0.0.0.0 \
        --tls_cert=cert.pem --tls_key=key.pem
"""

import os
import signal
import sys
import threading

from absl import app, flags

from serving.server.options import ADMIN_HEADER, ADMIN_KEY_ENV, is_loopback
from serving.server.process import TritonServer


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
    """Serves --repository until SIGINT or SIGTERM; 0 stopped, 1 it could not start or exited.

    Args:
        argv: the arguments absl leaves (none allowed).
    """
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
