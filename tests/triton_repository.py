"""A hand-written Python-backend model repository for the serving tests: whether a
tritonserver binary can be prepared (the mark that skips them when not), the add-one
model, writing a model and asking it for an answer."""

import os

import pytest

from serving import server


def _tritonserver():
    """(binary, why not) — preparing the nvidia-pytriton binary needs `pip download` once."""
    try:
        return server.find_tritonserver(), ""
    except RuntimeError as e:
        return None, str(e)


_BINARY, _MISSING = _tritonserver()
# The mark of a module whose tests run a tritonserver.
needs_tritonserver = pytest.mark.skipif(
    _BINARY is None, reason=f"no tritonserver binary could be prepared: {_MISSING}"
)

# numpy 2 here: tensors cross the stub by DLPack (its as_numpy() is built for numpy 1).
ADD_ONE = """
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = np.from_dlpack(pb_utils.get_input_tensor_by_name(request, "INPUT0"))
            y = pb_utils.Tensor.from_dlpack("OUTPUT0", x + np.float32(1))
            responses.append(pb_utils.InferenceResponse(output_tensors=[y]))
        return responses
"""


def write_model(repository, name, source):
    """Writes the Python-backend model `name` (model.py `source`; one FP32 input INPUT0 and
    output OUTPUT0 of 4 values, batches up to 8) into the model repository `repository`.

    Args:
        repository: the repository folder (a pathlib.Path).
        name: the model's name.
        source: the model.py text.
    """
    parameters = "".join(
        f'parameters: {{ key: "{k}", value: {{ string_value: "{v}" }} }}\n'
        for k, v in server.python_backend_parameters().items()
    )
    os.makedirs(repository / name / "1")
    (repository / name / "1" / "model.py").write_text(source)
    (repository / name / "config.pbtxt").write_text(
        f'name: "{name}"\nbackend: "python"\nmax_batch_size: 8\n'
        'input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
        'output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
        "instance_group [ { kind: KIND_CPU count: 1 } ]\n" + parameters
    )


def add_one_repository(folder):
    """`folder` as a model repository holding the add-one model; returns it.

    Args:
        folder: the repository folder to write (a pathlib.Path).
    """
    write_model(folder, "add_one", ADD_ONE)
    return folder


def infer(module, url, x, **kwargs):
    """OUTPUT0 of the model add_one for INPUT0 `x`, asked over `module` (tritonclient.http
    or tritonclient.grpc) at `url`.

    Args:
        module: tritonclient.http or tritonclient.grpc.
        url: host:port of the server's endpoint for that protocol.
        x: float32 [n, 4].
        **kwargs: passed to the client's infer (headers, say).
    """
    client = module.InferenceServerClient(url)
    try:
        inputs = [module.InferInput("INPUT0", list(x.shape), "FP32")]
        inputs[0].set_data_from_numpy(x)
        return client.infer("add_one", inputs, **kwargs).as_numpy("OUTPUT0")
    finally:
        client.close()
