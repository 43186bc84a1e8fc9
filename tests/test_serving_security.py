"""serving.server's exposure: a server listens on loopback alone by default; open to every
interface it needs an admin key and keeps administration behind it; TLS needs both files;
the client reaches a server through TLS and sends headers and the admin key."""

import contextlib
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from conftest import REPO, free_ports
from triton_repository import add_one_repository, infer, needs_tritonserver
from tritonclient.utils import InferenceServerException

from serving import client, server

pytestmark = needs_tritonserver


@pytest.fixture
def repository(tmp_path):
    return add_one_repository(tmp_path / "models")


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    """One server open to every interface behind the admin key "k3y", shared by the tests
    of what it lets through (each start is most of such a test's time)."""
    models = tmp_path_factory.mktemp("open") / "models"
    add_one_repository(models)
    ports = free_ports(3)
    with server.TritonServer(models, *ports, host="0.0.0.0", admin_key="k3y") as triton:
        triton.wait_model_ready("add_one")  # sends the key itself
        yield triton, ports


def _listening_addresses(ports) -> set:
    """Local addresses of the LISTEN sockets on `ports` (from /proc/net/tcp and tcp6; an
    IPv4-mapped IPv6 address as its IPv4 address)."""
    found = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, port = local.split(":")
                if state != "0A" or int(port, 16) not in ports:
                    continue
                raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
                ip = ipaddress.ip_address(raw)
                found.add(str(getattr(ip, "ipv4_mapped", None) or ip))
    return found


def test_listens_only_on_loopback_by_default(repository):
    ports = free_ports(3)
    with server.TritonServer(repository, *ports):
        assert _listening_addresses(ports) == {"127.0.0.1"}


def test_an_open_server_keeps_administration_behind_the_key(open_server):
    triton, ports = open_server
    x = np.ones((1, 4), np.float32)
    assert _listening_addresses(ports) <= {"0.0.0.0", "::"}
    # Inference and the model configuration stay open.
    np.testing.assert_array_equal(infer(httpclient, triton.url("http"), x), x + 1)
    np.testing.assert_array_equal(infer(grpcclient, triton.url("grpc"), x), x + 1)
    http = httpclient.InferenceServerClient(triton.url("http"))
    grpc = grpcclient.InferenceServerClient(triton.url("grpc"))
    try:
        assert http.get_model_config("add_one")["name"] == "add_one"
        # Repository index (and so model control) needs the key, under each protocol's name.
        with pytest.raises(InferenceServerException, match="restricted"):
            http.get_model_repository_index()
        with pytest.raises(InferenceServerException, match="restricted"):
            grpc.get_model_repository_index()
        with pytest.raises(InferenceServerException, match="restricted"):
            http.get_inference_statistics("add_one")
        assert http.get_model_repository_index(headers={"admin-key": "k3y"})
        header = dict([client.admin_header("k3y", "grpc")])
        assert grpc.get_model_repository_index(headers=header).models
        with pytest.raises(InferenceServerException, match="restricted"):
            http.get_model_repository_index(headers={"admin-key": "wrong"})
    finally:  # an open keep-alive connection delays the shared server's stop by ~30 s
        http.close()
        grpc.close()


def test_an_open_server_needs_a_key_and_tls_needs_both_files(repository, tmp_path):
    with pytest.raises(ValueError, match=r"--host=0.0.0.0 opens the server.*--admin_key"):
        server.TritonServer(repository, host="0.0.0.0")
    with pytest.raises(ValueError, match="TLS needs both"):
        server.TritonServer(repository, tls_cert=str(tmp_path / "c.pem"))
    with pytest.raises(ValueError, match="no such TLS file"):
        server.TritonServer(repository, tls_cert="absent.pem", tls_key="absent.key")
    assert server.is_loopback("127.0.0.1") and server.is_loopback("::1")
    assert server.is_loopback("localhost") and not server.is_loopback("10.1.2.3")
    env = {k: v for k, v in os.environ.items() if k != server.ADMIN_KEY_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "serving.server", f"--repository={repository}", "--host=0.0.0.0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "set an admin key" in proc.stderr, proc.stderr


def _certificate(folder):
    """A self-signed certificate for localhost/127.0.0.1 (cert.pem, key.pem), or skip."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    made = (
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
            + ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
            + ["-keyout", str(key), "-out", str(cert)],
            capture_output=True,
            text=True,
        )
        if shutil.which("openssl")
        else None
    )
    if made is None or made.returncode:
        pytest.skip(f"no local certificate: {made.stderr if made else 'no openssl binary'}")
    return str(cert), str(key)


class _TLSProxy:
    """Terminates TLS on a loopback port and relays the bytes to `port` (what a TLS proxy
    in front of Triton's HTTP endpoint does)."""

    def __init__(self, port, cert, key):
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                raw, _ = self.listener.accept()
                tls = self.context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                if self.listener.fileno() < 0:
                    return
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            for a, b in ((tls, upstream), (upstream, tls)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.listener.close()


def test_client_reaches_the_server_through_tls(repository, tmp_path):
    cert, key = _certificate(tmp_path)
    ports = free_ports(3)
    tls = client.Connection(ssl=True, ca_cert=cert)
    with server.TritonServer(repository, *ports, tls_cert=cert, tls_key=key) as triton:
        # gRPC: Triton's own TLS.
        answer = client.Client(triton.url("grpc"), "add_one", "grpc", tls)
        answer.close()  # an open connection delays the server's stop by ~30 s
        assert answer.max_batch_size == 8
        with pytest.raises(client.ServingError, match="no Triton server answers"):
            client.Client(triton.url("grpc"), "add_one", "grpc")  # plaintext is refused
        untrusted = client.Connection(ssl=True)  # the system CAs do not know the certificate
        with pytest.raises(client.ServingError, match="no Triton server answers"):
            client.Client(triton.url("grpc"), "add_one", "grpc", untrusted)
        # HTTP: through a TLS proxy, with a header passed along.
        proxy = _TLSProxy(ports[0], cert, key)
        try:
            url = f"localhost:{proxy.port}"
            https = client.Client(url, "add_one", "http", tls)
            https.close()
            assert https.max_batch_size == 8
            with pytest.raises(client.ServingError, match="no Triton server answers"):
                client.Client(url, "add_one", "http", untrusted)
        finally:
            proxy.close()


def test_client_sends_headers_and_the_admin_key(open_server):
    triton, _ = open_server
    for protocol in ("http", "grpc"):
        keyed = client.Connection(headers=(client.admin_header("k3y", protocol),))
        # Closed on leaving: an open keep-alive connection delays the shared server's stop.
        with (
            client.Client(triton.url(protocol), "add_one", protocol, keyed) as answer,
            client.Client(triton.url(protocol), "add_one", protocol) as plain,
        ):
            assert [m["name"] for m in answer._index()] == ["add_one"]
            with pytest.raises(InferenceServerException, match="restricted"):
                plain._index()
    assert client.parse_header("X-Token: a:b") == ("X-Token", "a:b")
    with pytest.raises(ValueError, match="expected NAME:VALUE"):
        client.parse_header("no-colon")
