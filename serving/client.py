"""Queries an exported model on a Triton server with tritonclient.

    python -m serving.client --url=127.0.0.1:8000 --model=g2c_python IMAGE_OR_DIR... \
        [--protocol=http|grpc] [--batch_size=8] [--stains_dir=DIR] \
        [--ssl [--ca_cert=CA.pem] [--client_cert=C.pem --client_key=K.pem]] \
        [--header=NAME:VALUE ...] [--admin_key=KEY]

Prints one line per image: path, predicted class, its probability (classifiers and G2C),
or writes the translated image (CycleGAN generators) / the generated stains (G2C, with
--stains_dir) as PNGs. Everything it needs (classes, input type, stains) comes from the
model's configuration on the server ("kerasg2c_metadata", written by `serving.export`).
--ssl talks HTTPS (to a TLS proxy in front of Triton's HTTP port) or gRPC over TLS
(`serving.server --tls_cert`), checking the server against --ca_cert (default: the system's
CAs). --header adds a header to every request (a proxy's token, say); --admin_key sends the
key of `serving.server --admin_key` under the name each protocol expects.
Exit codes: 0 all answered; 1 the server or model is unavailable (the message says which);
2 some inputs were not images or were refused (each one named).

Examples:

    kerasg2c client --url=127.0.0.1:8000 --model=g2c_python runs/g2c/data/labeled/test
    kerasg2c client --url=127.0.0.1:8001 --protocol=grpc --model=g2c_onnx --stains_dir=out x.png
"""

import dataclasses
import json
import os
import sys

import numpy as np
from absl import app, flags
from PIL import Image

from serving.client_inputs import list_inputs, read_image


class ServingError(Exception):
    """The server is down, or the model is missing or not ready."""


@dataclasses.dataclass(frozen=True)
class Connection:
    """How to reach the server: TLS (with an optional CA file and client certificate for
    mutual TLS) and extra headers sent with every request."""

    ssl: bool = False
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    headers: tuple = ()  # (name, value) pairs

    def client_arguments(self, protocol: str) -> dict:
        """tritonclient's InferenceServerClient keyword arguments for `protocol`."""
        if not self.ssl:
            return {}
        for path in (self.ca_cert, self.client_cert, self.client_key):
            if path and not os.path.isfile(path):
                raise ServingError(f"no such TLS file: {path}")
        if protocol == "grpc":
            return {
                "ssl": True,
                "root_certificates": self.ca_cert,
                "private_key": self.client_key,
                "certificate_chain": self.client_cert,
            }
        options = {
            "ca_certs": self.ca_cert,
            "certfile": self.client_cert,
            "keyfile": self.client_key,
        }
        return {"ssl": True, "ssl_options": {k: v for k, v in options.items() if v}}


def admin_header(key: str, protocol: str) -> tuple[str, str]:
    """The header carrying `serving.server`'s admin key: Triton checks it as `admin-key` over
    HTTP and as `triton-grpc-protocol-admin-key` over gRPC."""
    return ("admin-key" if protocol == "http" else "triton-grpc-protocol-admin-key", key)


def parse_header(text: str) -> tuple[str, str]:
    """'Name: value' → (name, value); ValueError naming the flag otherwise."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"--header={text!r}: expected NAME:VALUE")
    return name.strip(), value.strip()


class Client:
    """One model on one server, over HTTP or gRPC."""

    def __init__(
        self, url: str, model: str, protocol: str = "http", connection: Connection = Connection()
    ):
        if protocol == "http":
            import tritonclient.http as triton
        else:
            import tritonclient.grpc as triton
        self.triton, self.url, self.model, self.protocol = triton, url, model, protocol
        self.headers = dict(connection.headers) or None
        self.client = triton.InferenceServerClient(url, **connection.client_arguments(protocol))
        try:
            self._connect(url, model, protocol)
        except BaseException:
            self.close()  # a refused client holds no connection either
            raise

    def _connect(self, url: str, model: str, protocol: str) -> None:
        """Checks that the server and model are ready and reads the model's configuration."""
        try:
            live = self.client.is_server_live(headers=self.headers)
        except Exception as e:  # connection refused, TLS refused, DNS, timeout: "no server"
            raise ServingError(
                f"no Triton server answers at {url} ({protocol}): {e}. Start one with "
                "`python -m serving.server --repository=REPO`"
            ) from e
        if not live:
            raise ServingError(f"the Triton server at {url} is not live")
        if not self.client.is_model_ready(model, headers=self.headers):
            names = [m["name"] for m in self._index() if m.get("state") == "READY"]
            raise ServingError(
                f"model {model!r} is not ready on {url}; ready models: {sorted(names)}"
            )
        config = self.client.get_model_config(model, headers=self.headers)
        config = config if protocol == "http" else json.loads(_to_json(config))
        config = config.get("config", config)
        self.max_batch_size = int(config.get("max_batch_size") or config.get("maxBatchSize", 1))
        parameters = config.get("parameters", {})
        meta = parameters.get("kerasg2c_metadata", {})
        text = meta.get("string_value") or meta.get("stringValue") or "{}"
        self.metadata = json.loads(text)
        self.input_dtype = self.metadata.get("input", {}).get("dtype", "uint8")
        self.outputs = list(self.metadata.get("outputs", {})) or ["probabilities"]

    def close(self) -> None:
        """Closes the connection (an open keep-alive one delays a server's stop by ~30 s)."""
        self.client.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _index(self) -> list[dict]:
        index = self.client.get_model_repository_index(headers=self.headers)
        if self.protocol == "http":
            return index
        return [{"name": m.name, "state": m.state} for m in index.models]

    def infer(self, images: np.ndarray) -> dict:
        """{output name: array} for a batch of same-size images."""
        t = self.triton
        datatype = "UINT8" if images.dtype == np.uint8 else "FP32"
        request = t.InferInput("image", list(images.shape), datatype)
        request.set_data_from_numpy(images)
        outputs = [t.InferRequestedOutput(name) for name in self.outputs]
        result = self.client.infer(self.model, [request], outputs=outputs, headers=self.headers)
        return {name: result.as_numpy(name) for name in self.outputs}


def _to_json(message) -> str:
    from google.protobuf import json_format

    return json_format.MessageToJson(message)


def _batches(items, batch_size):
    """Consecutive runs of same-size images, at most `batch_size` long."""
    batch = []
    for item in items:
        if batch and (len(batch) == batch_size or item[1].shape != batch[0][1].shape):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def _save_png(array, path):
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


def run(paths, client: Client, batch_size: int, stains_dir=None) -> int:
    """Queries every image; returns the number of images that failed."""
    failed, items = 0, []
    max_pixels = client.metadata.get("input", {}).get("max_pixels")
    for path in list_inputs(paths):
        try:
            image = read_image(path, client.input_dtype)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            failed += 1
            continue
        height, width = image.shape[:2]
        if max_pixels and height * width > max_pixels:
            print(
                f"error: {path}: {width}×{height} = {width * height} pixels exceeds max_pixels = "
                f"{max_pixels} of the model; not sent",
                file=sys.stderr,
            )
            failed += 1
            continue
        items.append((path, image))
    classes = client.metadata.get("classes") or []
    stains = client.metadata.get("stains") or []
    batch_size = max(1, min(batch_size, client.max_batch_size))
    for batch in _batches(items, batch_size):
        try:
            result = client.infer(np.stack([image for _, image in batch]))
        except client.triton.InferenceServerException as e:
            for path, _ in batch:
                print(f"error: {path}: refused by the server: {e.message()}", file=sys.stderr)
            failed += len(batch)
            continue
        for i, (path, _) in enumerate(batch):
            stem = os.path.splitext(os.path.basename(path))[0]
            if "probabilities" in result:
                p = result["probabilities"][i]
                k = int(np.argmax(p))
                name = classes[k] if k < len(classes) else str(k)
                print(f"{path}\t{name}\t{p[k]:.4f}")
            if stains_dir and ("stains" in result or "image" in result):
                os.makedirs(stains_dir, exist_ok=True)
                if "image" in result:
                    target = client.metadata.get("target_stain", "translated")
                    out = os.path.join(stains_dir, f"{stem}_{target}.png")
                    _save_png(result["image"][i], out)
                    print(f"{path}\t{out}")
                for m, image in enumerate(result.get("stains", [[]] * len(batch))[i]):
                    name = stains[m] if m < len(stains) else f"stain{m + 1}"
                    _save_png(image, os.path.join(stains_dir, f"{stem}_{name}.png"))
    return failed


def define_flags() -> None:
    """The CLI's flags (defined only when run as a program)."""
    flags.DEFINE_string("url", "127.0.0.1:8000", "host:port of the server (HTTP or gRPC).")
    flags.DEFINE_enum("protocol", "http", ["http", "grpc"], "Triton protocol.")
    flags.DEFINE_string("model", None, "Model name in the repository.")
    flags.DEFINE_integer("batch_size", 8, "Images per request (same-size images only).")
    flags.DEFINE_string("stains_dir", None, "Write generated images here as PNGs.")
    flags.DEFINE_bool("ssl", False, "HTTPS / gRPC over TLS.")
    flags.DEFINE_string("ca_cert", None, "PEM CA file the server's certificate is checked with.")
    flags.DEFINE_string("client_cert", None, "PEM client certificate (mutual TLS).")
    flags.DEFINE_string("client_key", None, "PEM private key of --client_cert.")
    flags.DEFINE_multi_string("header", [], "NAME:VALUE header sent with every request.")
    flags.DEFINE_string("admin_key", None, "serving.server's admin key (for the repository index).")


def main(argv):
    FLAGS = flags.FLAGS
    if len(argv) < 2:
        raise app.UsageError("give image files or directories")
    if not FLAGS.model:
        raise app.UsageError("--model is required")
    try:
        headers = [parse_header(h) for h in FLAGS.header]
    except ValueError as e:
        raise app.UsageError(str(e)) from e
    if FLAGS.admin_key:
        headers.append(admin_header(FLAGS.admin_key, FLAGS.protocol))
    connection = Connection(
        FLAGS.ssl, FLAGS.ca_cert, FLAGS.client_cert, FLAGS.client_key, tuple(headers)
    )
    try:
        client = Client(FLAGS.url, FLAGS.model, FLAGS.protocol, connection)
    except ServingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    with client:
        failed = run(argv[1:], client, FLAGS.batch_size, FLAGS.stains_dir)
    return 2 if failed else 0


if __name__ == "__main__":
    define_flags()
    app.run(main)
