"""InfoWGAN-GP on one device against two (virtual CPU) replicas: the same logs, weights and
step counters after two distributed steps from the same weights."""

import json

import pytest
from conftest import prefetched, run_python
from test_infowgan_model import LOG_NAMES

# In a fresh process (the CPU is split into 2 devices before TensorFlow starts them).
# The draws are patched to one device's and the data reordered (replica_draws.py, as in
# the HistoGAN replica test). What is left must agree: loss scaling by the global batch,
# gradient and log reduction, synchronised batch norm, three optimizers, the step counter.
REPLICA_SCRIPT = r"""
import json
import sys

from kerasg2c.training import runtime

runtime.split_cpu(2)

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, "tests")
from replica_draws import draw_as_one_device, one_device_order

from kerasg2c.models.infowgan import InfoWGANGP
from kerasg2c.training import loop

B, N_CRITIC, STEPS = 4, 1, 2
one, two = runtime.make_strategy("default"), runtime.make_strategy("mirrored", 2)
assert two.num_replicas_in_sync == 2
draw_as_one_device(InfoWGANGP)


def model():
    m = InfoWGANGP(categories=3, noise_dim=4, channels=8, image_size=16, n_critic=N_CRITIC, seed=5)
    m(np.zeros((1, 16, 16, 3), "float32"))
    m.compile(*(keras.optimizers.SGD(0.01) for _ in range(3)))
    m.build_optimizers()
    return m


keras.utils.set_random_seed(0)
models = []
for strategy in (one, two):
    with strategy.scope():
        models.append(model())
for a, b in zip(models[0].weights, models[1].weights, strict=True):
    b.assign(a)
initial = [v.numpy() for v in models[0].trainable_weights]
rng = np.random.default_rng(0)
images = rng.uniform(0, 1, (STEPS * N_CRITIC * B, 16, 16, 3)).astype("float32")
order = one_device_order(B, N_CRITIC, STEPS)
results = {}
runs = (("one", one, models[0], images), ("two", two, models[1], images[order]))
for name, strategy, m, data in runs:
    step = loop.make_distributed_step(m, strategy, jit_compile=False)
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(data).batch(N_CRITIC * B)
    )
    results[name] = []
    for batch in dataset:
        logs, _ = step(batch, tf.constant(0.0))
        results[name].append({k: float(v) for k, v in logs.items()})
weights = [[v.numpy() for v in m.weights if "float" in v.dtype] for m in models]
results["max_weight_difference"] = max(float(np.max(np.abs(x - y))) for x, y in zip(*weights))
trained = [v.numpy() for v in models[0].trainable_weights]
results["max_weight_change"] = max(float(np.max(np.abs(x - y))) for x, y in zip(initial, trained))
results["step_counters"] = [int(m.step_counter.numpy()) for m in models]
print(json.dumps(results))
"""


@prefetched()
def replica_results(tmp_path_factory):
    """REPLICA_SCRIPT's results (a subprocess: two virtual CPU devices)."""
    proc = run_python(["-c", REPLICA_SCRIPT], timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_replicas_train_as_one_device(replica_results):
    result = replica_results
    assert result["step_counters"] == [2, 2]
    for one, two in zip(result["one"], result["two"], strict=True):
        assert set(one) == LOG_NAMES and set(two) == LOG_NAMES
        for name in one:
            assert two[name] == pytest.approx(one[name], rel=1e-4, abs=1e-5), name
    # A gradient scaled per replica would change every update by half its size.
    assert result["max_weight_difference"] < 1e-4 < 0.01 * result["max_weight_change"]
