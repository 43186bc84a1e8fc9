"""Trains a tiny classifier with the project's loop on fixed in-memory data and
saves its final weights; the multi-replica and multi-worker tests run it in
fresh processes (virtual devices and TF_CONFIG must be set before TF starts).

    python tests/workers/train_worker.py --workdir=DIR --strategy=default [--replicas=2]
        [--jit] [--steps=4] [--out=weights.npz]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import numpy as np  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--strategy", default="default")
    parser.add_argument("--replicas", type=int, default=0)
    parser.add_argument("--jit", action="store_true")
    parser.add_argument("--deterministic", action="store_true")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--precision", default="")
    parser.add_argument("--out", default="weights.npz")
    args = parser.parse_args()

    from kerasg2c.jobs import shared_config

    train = shared_config.base_config().train
    train.strategy, train.num_cpu_replicas = args.strategy, args.replicas
    train.jit_compile, train.deterministic = args.jit, args.deterministic
    train.mixed_precision = args.precision

    from kerasg2c.training import loop, runtime

    strategy = runtime.configure(train, seed=0)
    import keras

    print(f"policy {keras.mixed_precision.global_policy().name}", flush=True)
    import tensorflow as tf

    from kerasg2c.models.classifier import Classifier

    rng = np.random.default_rng(0)
    images = rng.random((32, 16, 16, 3)).astype("float32")
    labels = (images[..., 0].mean((1, 2)) > 0.5).astype("int32")

    def make_dataset(epoch, skip):
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        ds = ds.shuffle(32, seed=epoch, reshuffle_each_iteration=False)
        return ds.batch(8, drop_remainder=True).skip(skip)

    with strategy.scope():
        model = Classifier(2, widths=(8, 16), blocks_per_unit=1, stem_width=8)
        model(tf.zeros((1, 16, 16, 3)))
        model.optimizer = runtime.optimizer_for_precision(keras.optimizers.SGD(0.05, momentum=0.5))
    settings = loop.LoopSettings(
        epochs=args.epochs,
        steps_per_epoch=4,
        global_batch_size=8,
        checkpoint_every=2,
        log_every=1,
        jit_compile=args.jit,
    )
    initial = [v.numpy() for v in model.weights]
    history = loop.fit(
        model, make_dataset, strategy=strategy, workdir=args.workdir, settings=settings
    )
    out = os.path.join(args.workdir, f"{runtime.task_index(strategy)}_{args.out}")
    np.savez(out, *[v.numpy() for v in model.weights])
    np.savez(os.path.join(args.workdir, "initial_weights.npz"), *initial)
    print("final train_loss", history[-1]["train_loss"], flush=True)


if __name__ == "__main__":
    main()
