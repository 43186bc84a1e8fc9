"""Where the tritonserver binary comes from, and the environment its Python backend runs in.

The server binary is --tritonserver, else `tritonserver` on PATH (an NGC container), else the
CPU-capable Triton 2.51 inside the nvidia-pytriton wheel: fetched once with `pip download` (not
installed: its Python API pins numpy<2) and unpacked, libraries and Python-backend stub in place,
under $KERASG2C_CACHE or ~/.cache/kerasg2c (tritonserver/). Python-backend models run in this
interpreter's environment (`python_backend_parameters`); with numpy 2 they must pass tensors by
DLPack (`np.from_dlpack`, `pb_utils.Tensor.from_dlpack`): the stub's `as_numpy()` and
`pb_utils.Tensor(name, array)` are built for numpy 1 and silently read zeros / send nothing.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

PYTRITON = "nvidia-pytriton==0.7.0"


def cache_dir() -> str:
    """Where the wheel's server is unpacked: $KERASG2C_CACHE or ~/.cache/kerasg2c, /tritonserver."""
    root = os.environ.get("KERASG2C_CACHE") or os.path.join("~", ".cache", "kerasg2c")
    return os.path.join(os.path.expanduser(root), "tritonserver")


def prepare_pytriton_server(cache: str | None = None) -> str:
    """The tritonserver binary of the nvidia-pytriton wheel, unpacked once under `cache` with the
    stub for this Python in backends/python; RuntimeError naming what failed.

    Args:
        cache: the folder to unpack into (default `cache_dir()`).

    Examples:

        binary = prepare_pytriton_server()  # .../pytriton/tritonserver/bin/tritonserver
    """
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
    """`path`, else `tritonserver` on PATH, else the prepared nvidia-pytriton binary.

    Args:
        path: an explicit binary (--tritonserver); RuntimeError if it is not executable.

    Examples:

        find_tritonserver()  # "/usr/bin/tritonserver" or the nvidia-pytriton one
    """
    if path:
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"--tritonserver={path} is not an executable file")
        return os.path.abspath(path)
    return shutil.which("tritonserver") or prepare_pytriton_server()


def python_backend_parameters() -> dict[str, str]:
    """config.pbtxt parameters making Python-backend models run in this environment: the
    virtual environment (with bin/activate) as EXECUTION_ENV_PATH; none outside one.

    Examples:

        python_backend_parameters()  # {"EXECUTION_ENV_PATH": "/work/main/.venv"}
    """
    if os.path.isfile(os.path.join(sys.prefix, "bin", "activate")):
        return {"EXECUTION_ENV_PATH": sys.prefix}
    return {}
