"""Devices, tf.distribute strategy, precision and determinism, chosen by config.

`configure(train_config, seed)` must run before TensorFlow touches a device
(virtual CPU devices can only be made then); it returns the strategy. The keys are
checked before (`kerasg2c.jobs.shared_config.check_shared`).

Strategies (`train.strategy`):
  auto          MultiWorkerMirroredStrategy when TF_CONFIG is set, MirroredStrategy
                over all local GPUs when there are several (or over N virtual
                CPU devices when `train.num_cpu_replicas=N`), else the default.
  default       one device.
  mirrored      MirroredStrategy over the local GPUs / virtual CPUs.
  multi_worker  MultiWorkerMirroredStrategy (TF_CONFIG or Slurm).
"""

import json
import os

import keras
import tensorflow as tf
from absl import logging

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
PRECISIONS = ("", "float32", "mixed_float16", "mixed_bfloat16", "auto")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of bfloat16 arithmetic


def configure(train_config, seed: int) -> tf.distribute.Strategy:
    """Sets devices, seeds, precision and determinism; returns the strategy.

    Once per process (the run context calls it): devices and collectives can be
    configured only before TensorFlow starts its runtime.
    """
    if train_config.num_cpu_replicas > 1:
        split_cpu(train_config.num_cpu_replicas)
    # The strategy first: MultiWorkerMirroredStrategy must configure collective
    # ops before anything starts the TensorFlow runtime.
    strategy = make_strategy(train_config.strategy, train_config.num_cpu_replicas)
    # TensorFlow's own INFO lines (one per checkpoint shard) drown the progress lines.
    tf.get_logger().setLevel("WARNING")
    logging.get_absl_logger().addFilter(
        lambda record: not record.pathname.endswith("functional_saver.py")
    )
    keras.utils.set_random_seed(seed)
    if train_config.deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = train_config.mixed_precision or "float32"
    if policy == "auto":
        policy, why = auto_precision()
        logging.info("precision %s (train.mixed_precision=auto: %s)", policy, why)
    keras.mixed_precision.set_global_policy(policy)
    logging.info(
        "strategy %s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync
    )
    return strategy


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as Linux lists them (an empty set where it does not)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def auto_precision(gpus=None, flags=None) -> tuple[str, str]:
    """(Keras policy, why) for `train.mixed_precision=auto`: mixed_float16 (with loss
    scaling) when every GPU has tensor cores (compute capability ≥ 7.0), float32 on other
    GPUs, mixed_bfloat16 on a CPU with bfloat16 arithmetic (`BF16_CPU_FLAGS`), else float32.

    Args:
      gpus: compute capabilities [(major, minor)] of the GPUs; None = this machine's.
      flags: the CPU's flags; None = `cpu_flags()`.

    Examples:
      >>> auto_precision(gpus=[], flags={"avx512f", "avx512_bf16"})
      ('mixed_bfloat16', 'the CPU has avx512_bf16, no GPU')
    """
    if gpus is None:
        details = [tf.config.experimental.get_device_details(g)
                   for g in tf.config.list_physical_devices("GPU")]  # fmt: skip
        gpus = [tuple(d.get("compute_capability") or (0, 0)) for d in details]
    if gpus:
        lowest = "%d.%d" % min(gpus)
        if min(gpus) >= (7, 0):
            return "mixed_float16", f"GPUs with tensor cores (compute capability {lowest})"
        return "float32", f"a GPU without tensor cores (compute capability {lowest})"
    found = sorted(set(cpu_flags() if flags is None else flags) & set(BF16_CPU_FLAGS))
    if found:
        return "mixed_bfloat16", f"the CPU has {', '.join(found)}, no GPU"
    return "float32", "no GPU, and the CPU has no bfloat16 arithmetic"


def split_cpu(n: int) -> None:
    """Splits the host CPU into `n` logical devices (to test multi-replica code)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    except RuntimeError as e:
        raise RuntimeError(
            "train.num_cpu_replicas must be set before TensorFlow initialises its devices"
        ) from e


def make_strategy(name: str, num_cpu_replicas: int = 0) -> tf.distribute.Strategy:
    """Returns the tf.distribute strategy for `train.strategy`."""
    if name == "auto":
        if os.environ.get("TF_CONFIG"):
            name = "multi_worker"
        elif len(tf.config.list_physical_devices("GPU")) > 1 or num_cpu_replicas > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")
        ]
        return tf.distribute.MirroredStrategy(devices)
    resolver = None
    if not os.environ.get("TF_CONFIG") and "SLURM_JOB_ID" in os.environ:
        resolver = tf.distribute.cluster_resolver.SlurmClusterResolver()
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, logs and reports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return (
        task_type is None
        or task_type == "chief"
        or (task_type == "worker" and task_id == 0 and "chief" not in _cluster_spec())
    )


def task_index(strategy: tf.distribute.Strategy) -> int:
    """The worker's index in the cluster (0 outside multi-worker runs)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 0
    return resolver.task_id or 0


def _cluster_spec() -> dict:
    return json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})


def replica_seed(seed: int, *values) -> tf.Tensor:
    """A [2] int64 Philox seed for stateless draws, folded from (seed, *values, replica id):
    a function of the step (or whatever `values` name) and the replica, so a resumed run
    repeats its draws and replicas draw differently; Philox, so XLA draws the same."""
    context = tf.distribute.get_replica_context()
    replica = 0 if context is None else context.replica_id_in_sync_group
    folded = tf.constant([seed, 0], tf.int64)
    for value in (*values, replica):
        folded = tf.random.experimental.stateless_fold_in(
            folded, tf.cast(value, tf.int64), alg="philox"
        )
    return folded


def add_step_counter(model: keras.Model):
    """A saved, untrained int64 step counter on `model`, starting at 0: the step that
    `replica_seed` folds in. Every replica adds 1 per step and only the first replica's
    value is kept, so it counts steps, not replicas × steps."""
    return model.add_weight(
        shape=(),
        initializer="zeros",
        dtype="int64",
        trainable=False,
        aggregation="only_first_replica",
        name="step_counter",
    )


def optimizer_for_precision(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """Wraps `optimizer` in dynamic loss scaling when the policy is mixed_float16 (once: a
    wrapped optimizer is returned as it is)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
