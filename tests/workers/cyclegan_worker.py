"""Runs the CycleGAN image pool and train_step under a 2-replica MirroredStrategy
on virtual CPU devices (which must be made before TensorFlow starts, hence a
fresh process) and prints one JSON line of results for tests/test_cyclegan_models.py.

    python tests/workers/cyclegan_worker.py --workdir=DIR
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import numpy as np  # noqa: E402


def pool_per_replica(strategy, tf, ImagePool):
    """Each replica feeds its own images (replica r: 100·r + k); returns what came back
    and each replica's own pool."""
    with strategy.scope():
        pool = ImagePool(4, name="pool")
        pool.build((None, 1, 1, 1))

    @tf.function
    def query(step):
        def replica_fn():
            ctx = tf.distribute.get_replica_context()
            r = tf.cast(ctx.replica_id_in_sync_group, tf.float32)
            values = 100.0 * r + 2.0 * step + tf.constant([1.0, 2.0])
            return pool(tf.reshape(values, (2, 1, 1, 1)))

        return strategy.run(replica_fn)

    returned = []
    for step in range(12):
        out = strategy.experimental_local_results(query(tf.constant(float(step))))
        returned.append([o.numpy().ravel().tolist() for o in out])
    pools = strategy.experimental_local_results(pool.images.value)
    seen = strategy.experimental_local_results(pool.seen.value)
    return {
        "returned": returned,
        "pools": [p.numpy().ravel().tolist() for p in pools],
        "seen": [int(s.numpy()) for s in seen],
    }


def make_cyclegan(keras, name):
    from kerasg2c.models.cyclegan import CycleGAN
    from kerasg2c.models.patch_discriminator import PatchDiscriminator
    from kerasg2c.models.resnet_generator import ResnetGenerator

    model = CycleGAN(
        ResnetGenerator(4, 1, name="generator_ab"),
        ResnetGenerator(4, 1, name="generator_ba"),
        PatchDiscriminator(4, variant="ihc", name="discriminator_a"),
        PatchDiscriminator(4, variant="ihc", name="discriminator_b"),
        pool_size=16,  # larger than the images seen: the pools only fill, so runs are exact
        name=name,
    )
    model(np.zeros((1, 16, 16, 3), "float32"))
    model.compile(keras.optimizers.SGD(0.01), keras.optimizers.SGD(0.01))
    model.build_optimizers()
    return model


def train_cyclegan(strategy, model, batches, tf, loop):
    """Per-step logs and the networks' weights after the first step."""
    step = loop.make_distributed_step(model, strategy, jit_compile=False)
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(batches).batch(4)
    )
    logs, first = [], None
    for batch in dataset:
        values, _ = step(batch, tf.constant(0.0))
        logs.append({k: float(v) for k, v in values.items()})
        first = first or [w.numpy() for w in model.trainable_weights]
    return logs, first


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()

    from kerasg2c.jobs import shared_config

    train = shared_config.base_config().train
    train.strategy, train.num_cpu_replicas = "mirrored", 2
    from kerasg2c.training import checkpointing, loop, runtime

    mirrored = runtime.configure(train, seed=0)
    import keras
    import tensorflow as tf

    from kerasg2c.models.image_pool import ImagePool

    results = {"replicas": mirrored.num_replicas_in_sync}
    results["pool"] = pool_per_replica(mirrored, tf, ImagePool)

    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (12, 16, 16, 3)).astype("float32")
    b = rng.uniform(-1, 1, (12, 16, 16, 3)).astype("float32")
    single_strategy = tf.distribute.get_strategy()
    single = make_cyclegan(keras, "single")
    with mirrored.scope():
        two = make_cyclegan(keras, "two")
    two.set_weights(single.get_weights())
    initial = [w.numpy() for w in single.trainable_weights]
    results["single_logs"], first_one = train_cyclegan(single_strategy, single, (a, b), tf, loop)
    results["mirrored_logs"], first_two = train_cyclegan(mirrored, two, (a, b), tf, loop)
    # The networks only: each replica's pool saw half of the images.
    results["first_step_weight_diff"] = max(
        float(np.max(np.abs(x - y))) for x, y in zip(first_one, first_two)
    )
    results["first_step_change"] = max(
        float(np.max(np.abs(x - y))) for x, y in zip(first_one, initial)
    )
    results["max_weight_diff"] = max(
        float(np.max(np.abs(x.numpy() - y.numpy())))
        for x, y in zip(single.trainable_weights, two.trainable_weights)
    )

    # The pools are checkpointed (the first replica's), and restored into every replica.
    keeper = checkpointing.CheckpointKeeper(two, args.workdir)
    keeper.save(3)
    with mirrored.scope():
        restored = make_cyclegan(keras, "two")
    checkpointing.CheckpointKeeper(restored, args.workdir).restore()
    saved = mirrored.experimental_local_results(two.pool_b.images.value)[0].numpy()
    back = [v.numpy() for v in mirrored.experimental_local_results(restored.pool_b.images.value)]
    results["restored_pool_diff"] = [float(np.max(np.abs(saved - v))) for v in back]
    results["pool_filled"] = float(np.abs(saved).max())
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
