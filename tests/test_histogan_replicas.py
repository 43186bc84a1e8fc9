"""HistoGAN on one device against two (virtual CPU) replicas: the loop's own fit on a tiny
model trains the same weights and logs, and a critic's synchronised batch norm and
minibatch discrimination score the global batch as one device does."""

import json

import pytest
from conftest import prefetched, run_python

# Run in a fresh process (the CPU is split into 2 devices before TensorFlow starts them),
# with the loop's own fit on a tiny model (16 px, one stage, n_critic=2, "batch" critics:
# synchronised BN); prints one JSON line. It is done at the model level, not with the job
# and --config.train.num_cpu_replicas=2: the job's runs cannot agree beyond sampling
# noise, for the two reasons replica_draws.py sets aside: per-replica draws (patched to
# the global batch's draw) and the split of a step into critic sub-batches (the data
# reordered). What is left is what must agree: loss scaling by the global batch, gradient
# and log reduction, synchronised BN and all-gathered minibatch discrimination (also in
# the penalty's second-order pass), the optimizers and the step counter.
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

from kerasg2c.models.histogan import HistoGAN, HistoGANCritic, HistoGANGenerator
from kerasg2c.training import loop

CLASSES, NOISE, B, N_CRITIC, STEPS, K = 3, 8, 4, 2, 3, 4  # K: minibatch kernels
one, two = runtime.make_strategy("default"), runtime.make_strategy("mirrored", 2)
assert two.num_replicas_in_sync == 2
keras.utils.set_random_seed(0)
draw_as_one_device(HistoGAN)


def critic():
    return HistoGANCritic(CLASSES, channels=8, n_down=2, critic_norm="batch", minibatch_kernels=K)


def histogan():
    generator = HistoGANGenerator(CLASSES, NOISE, base_shape=(1, 1), channels=8, n_stages=1)
    model = HistoGAN(generator, [critic()], CLASSES, NOISE, n_critic=N_CRITIC, seed=3)
    model(np.zeros(1, "int32"))
    # SGD: a weight's change is proportional to its gradient (Adam's normalised step would
    # hide a wrong gradient scale and magnify round-off in gradients near zero). 0.001:
    # with minibatch discrimination live, SGD(0.01) blows the tiny critic up on the 2nd
    # step (gradients of hundreds), and round-off then grows chaotically (measured: 1e-6
    # after step 1, 1e-3 relative after step 2, order 1 after step 3).
    model.compile(keras.optimizers.SGD(0.001), keras.optimizers.SGD(0.001))
    return model


def copy(source, target):
    for a, b in zip(source.weights, target.weights, strict=True):
        b.assign(a)


rng = np.random.default_rng(0)
results = {}

# 1. A critic's scores on one global batch of 8 in training mode, with and without
# minibatch discrimination.
images = rng.uniform(0, 1, (8, 16, 16, 3)).astype("float32")
labels = rng.integers(0, CLASSES, 8).astype("int32")
critics = []
for strategy in (one, two):
    with strategy.scope():
        critics.append(critic())
        critics[-1](images[:1], labels[:1])
copy(*critics)
dataset = tf.data.Dataset.from_tensors((images, labels))
batch = next(iter(two.experimental_distribute_dataset(dataset)))
for minibatch in (False, True):
    alone = critics[0](images, labels, training=True, minibatch=minibatch).numpy()
    split = two.run(
        tf.function(lambda x, y: critics[1](x, y, training=True, minibatch=minibatch)), args=batch
    )
    split = np.concatenate([s.numpy() for s in two.experimental_local_results(split)])
    results[f"critic_minibatch_{minibatch}"] = float(np.max(np.abs(alone - split)))

# 2. One epoch of STEPS steps with loop.fit on one device and on two replicas, from the
# same weights, minibatch discrimination live.
n = STEPS * N_CRITIC * B
data = (rng.uniform(0, 1, (n, 16, 16, 3)).astype("float32"), rng.integers(0, CLASSES, n))
order = one_device_order(B, N_CRITIC, STEPS)
models = []
for strategy in (one, two):
    with strategy.scope():
        models.append(histogan())
copy(*models)
initial = [v.numpy() for v in models[0].trainable_weights]
minibatch_initial = models[0].critics[0].minibatch.kernel.numpy()
runs = (("one", one, models[0], data), ("two", two, models[1], (data[0][order], data[1][order])))
for name, strategy, model, (images, labels) in runs:

    def make_dataset(epoch, skip, images=images, labels=labels):
        dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype("int32")))
        return dataset.batch(N_CRITIC * B).skip(skip)

    settings = loop.LoopSettings(epochs=1, steps_per_epoch=STEPS, global_batch_size=N_CRITIC * B)
    history = loop.fit(
        model, make_dataset, strategy=strategy, workdir=f"{sys.argv[1]}/{name}", settings=settings
    )
    results[name] = {k: v for k, v in history[0].items() if k.startswith("train_")}
weights = [[v.numpy() for v in m.weights if "float" in v.dtype] for m in models]
trained = [v.numpy() for v in models[0].trainable_weights]
for key, (a, b) in (("difference", weights), ("change", (initial, trained))):
    results[f"max_weight_{key}"] = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
results["step_counters"] = [int(m.step_counter.numpy()) for m in models]
results["minibatch_kernel_change"] = float(
    np.max(np.abs(models[1].critics[0].minibatch.kernel.numpy() - minibatch_initial))
)
print(json.dumps(results))
"""


@prefetched()
def one_and_two_replicas(tmp_path_factory):
    proc = run_python(["-c", REPLICA_SCRIPT, str(tmp_path_factory.mktemp("replicas"))])
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_replicas_train_as_one_device(one_and_two_replicas):
    result = one_and_two_replicas
    # The minibatch kernel trained (its features reach the score), on both sides alike.
    assert result["minibatch_kernel_change"] > 0.01 and result["step_counters"] == [3, 3]
    # float32 sums in another order (per-replica partial sums of the BN moments and of
    # the gradients), carried through 3 steps: measured 3e-6 relative on the logs and
    # 1e-6 on the weights. A real fault is orders larger: a loss scaled per replica
    # halves a log; per-replica batch statistics or minibatch closeness move scores by ~1.
    one, two = result["one"], result["two"]
    logs = {"critic_loss", "gradient_penalty", "wasserstein_gap", "generator_loss"}
    assert set(one) == {f"train_{k}" for k in logs} and set(two) == set(one)
    for name in one:
        assert two[name] == pytest.approx(one[name], rel=1e-4, abs=1e-5), name
    # SGD(0.001) moved some weight by max_weight_change (~0.24); a gradient scaled per
    # replica would change every update by half its size.
    assert result["max_weight_difference"] < 1e-4 < 0.01 * result["max_weight_change"]


@pytest.mark.slow
def test_synchronised_batch_norm_scores_as_on_one_device(one_and_two_replicas):
    assert one_and_two_replicas["critic_minibatch_False"] < 1e-5


@pytest.mark.slow
def test_minibatch_discrimination_scores_as_on_one_device(one_and_two_replicas):
    assert one_and_two_replicas["critic_minibatch_True"] < 1e-5
