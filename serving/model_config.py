"""Triton `config.pbtxt` text for an exported model (Triton model configuration docs:
inputs/outputs, reshape, max_batch_size, dynamic_batching, instance_group, version_policy,
parameters)."""

import dataclasses
import json

# Triton data types of the numpy dtypes the exported models use.
TRITON_TYPES = {
    "uint8": "TYPE_UINT8",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "float32": "TYPE_FP32",
}

# Backend per export format.
PLATFORMS = {
    "savedmodel": 'platform: "tensorflow_savedmodel"',
    "onnx": 'platform: "onnxruntime_onnx"',
    "python": 'backend: "python"',
}


@dataclasses.dataclass(frozen=True)
class Tensor:
    """A named input or output; `dims` exclude the batch dimension (-1 = any size; () = one
    scalar per example, which Triton carries as dims [1] reshaped to []). `range`: the
    inclusive (low, high) of an input's valid values, or None."""

    name: str
    dtype: str
    dims: tuple
    range: tuple | None = None


@dataclasses.dataclass(frozen=True)
class Batching:
    """Server-side batching and placement (the `serving.export` flags)."""

    max_batch_size: int = 32
    preferred_batch_sizes: tuple = (4, 8, 16)
    max_queue_delay_us: int = 1000
    instance_kind: str = "auto"  # KIND_GPU | KIND_CPU | auto: GPU, but CPU for the Python backend
    instance_count: int = 1


def _tensor(t: Tensor, label_file=None) -> str:
    label = f'\n    label_filename: "{label_file}"' if label_file else ""
    # Triton needs at least one dim: a per-example scalar is sent as [1] and reshaped.
    dims = ", ".join(str(d) for d in t.dims) if t.dims else "1"
    reshape = "" if t.dims else "\n    reshape: { shape: [ ] }"
    return (
        f'  {{\n    name: "{t.name}"\n    data_type: {TRITON_TYPES[t.dtype]}\n'
        f"    dims: [ {dims} ]{reshape}{label}\n  }}"
    )


def config_text(
    name: str,
    fmt: str,
    inputs,
    outputs,
    batching: Batching,
    metadata: dict,
    label_output: str | None = None,
    execution_env: str | None = None,
) -> str:
    """The config.pbtxt of model `name` in format `fmt` ("savedmodel", "onnx", "python").

    `metadata` is stored as the string parameter "kerasg2c_metadata" (JSON), which clients
    read from the server's model configuration; `label_output` names the output whose
    indices `labels.txt` names; `execution_env` (Python backend) is the environment the
    stub runs the model in (EXECUTION_ENV_PATH).
    """
    if fmt not in PLATFORMS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {list(PLATFORMS)}")
    preferred = [b for b in batching.preferred_batch_sizes if b <= batching.max_batch_size]
    parameters = [("kerasg2c_metadata", json.dumps(metadata, sort_keys=True))]
    if fmt == "python" and execution_env:
        parameters.append(("EXECUTION_ENV_PATH", execution_env))
    kind = batching.instance_kind
    if kind == "auto":
        kind = "KIND_CPU" if fmt == "python" else "KIND_GPU"
    lines = [
        f'name: "{name}"',
        PLATFORMS[fmt],
        f"max_batch_size: {batching.max_batch_size}",
        "input [",
        ",\n".join(_tensor(t) for t in inputs),
        "]",
        "output [",
        ",\n".join(_tensor(t, "labels.txt" if t.name == label_output else None) for t in outputs),
        "]",
        "dynamic_batching {",
        *([f"  preferred_batch_size: [ {', '.join(map(str, preferred))} ]"] if preferred else []),
        f"  max_queue_delay_microseconds: {batching.max_queue_delay_us}",
        "}",
        f"instance_group [ {{ count: {batching.instance_count} kind: {kind} }} ]",
        "version_policy: { latest: { num_versions: 1 } }",
    ]
    for key, value in parameters:
        lines.append(
            f'parameters: {{ key: "{key}" value: {{ string_value: {json.dumps(value)} }} }}'
        )
    return "\n".join(lines) + "\n"
