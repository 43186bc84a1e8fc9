"""The training loop in one process: resume, NaN guard, mixed precision."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import load_npz, run_python

from kerasg2c.models.classifier import Classifier
from kerasg2c.training import checkpointing, loop, runtime

RNG = np.random.default_rng(0)
IMAGES = RNG.random((32, 16, 16, 3)).astype("float32")
LABELS = (IMAGES[..., 0].mean((1, 2)) > 0.5).astype("int32")


def make_model():
    keras.utils.set_random_seed(0)
    model = Classifier(2, widths=(8,), blocks_per_unit=1, stem_width=8)
    model(tf.zeros((1, 16, 16, 3)))
    model.optimizer = keras.optimizers.SGD(0.05, momentum=0.5)
    return model


def make_dataset(images):
    def fn(epoch, skip):
        ds = tf.data.Dataset.from_tensor_slices((images, LABELS))
        ds = ds.shuffle(32, seed=epoch, reshuffle_each_iteration=False)
        return ds.batch(8, drop_remainder=True).skip(skip)

    return fn


def fit(model, workdir, epochs, images=IMAGES, **kwargs):
    settings = loop.LoopSettings(
        epochs=epochs, steps_per_epoch=4, global_batch_size=8, checkpoint_every=2, log_every=1
    )
    return loop.fit(
        model,
        make_dataset(images),
        strategy=tf.distribute.get_strategy(),
        workdir=str(workdir),
        settings=settings,
        **kwargs,
    )


def test_resume_continues_to_the_same_weights(tmp_path):
    straight = make_model()
    fit(straight, tmp_path / "a", epochs=3)
    first = make_model()
    fit(first, tmp_path / "b", epochs=1)
    resumed = make_model()  # fresh weights: everything must come from the checkpoint
    history = fit(resumed, tmp_path / "b", epochs=3)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert int(resumed.optimizer.iterations.numpy()) == 12


def test_nan_stops_naming_the_loss_and_keeps_the_good_checkpoint(tmp_path):
    images = IMAGES.copy()
    images[:] = np.nan  # every batch is poisoned; the first step must stop the run
    model = make_model()
    with pytest.raises(loop.NonFiniteLossError, match=r"'loss' is nan at step 1"):
        fit(model, tmp_path, epochs=1, images=images)
    assert checkpointing.CheckpointKeeper(model, str(tmp_path)).latest_step is None


def test_nan_after_good_steps_leaves_last_good_checkpoint(tmp_path):
    model = make_model()
    fit(model, tmp_path, epochs=1)  # 4 good steps, checkpoint at step 4
    poisoned = IMAGES.copy()
    poisoned[:] = np.inf
    with pytest.raises(loop.NonFiniteLossError, match="step 5.*step 4"):
        fit(model, tmp_path, epochs=2, images=poisoned)
    assert checkpointing.CheckpointKeeper(model, str(tmp_path)).latest_step == 4


def test_epoch_end_metrics_go_into_history(tmp_path):
    history = fit(make_model(), tmp_path, epochs=2, on_epoch_end=lambda e: {"val_x": 10.0 + e})
    assert [row["val_x"] for row in history] == [10.0, 11.0]
    assert all(np.isfinite(row["train_loss"]) for row in history)
    assert os.path.exists(tmp_path / "history.json")
    assert os.listdir(tmp_path / "tensorboard" / "train")


def test_running_out_of_data_names_the_config_key(tmp_path):
    settings = loop.LoopSettings(epochs=1, steps_per_epoch=9, global_batch_size=8)
    with pytest.raises(ValueError, match="train.steps_per_epoch"):
        loop.fit(
            make_model(),
            make_dataset(IMAGES),
            strategy=tf.distribute.get_strategy(),
            workdir=str(tmp_path),
            settings=settings,
        )


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_close_to_float32(tmp_path, precision):
    base = run_python(["tests/workers/train_worker.py", f"--workdir={tmp_path / 'f32'}"])
    mixed = run_python(
        [
            "tests/workers/train_worker.py",
            f"--workdir={tmp_path / 'mp'}",
            f"--precision={precision}",
        ]
    )
    assert base.returncode == 0 and mixed.returncode == 0, mixed.stderr[-3000:]
    init = load_npz(tmp_path / "f32" / "initial_weights.npz")
    f32 = load_npz(tmp_path / "f32" / "0_weights.npz")
    mixed = load_npz(tmp_path / "mp" / "0_weights.npz")
    assert all(np.isfinite(w).all() for w in mixed)

    def distance(a, b):
        return np.sqrt(sum(np.sum((x - y) ** 2) for x, y in zip(a, b)))

    # Half precision follows the float32 trajectory: it ends far closer to the
    # float32 weights than training moved them, but not bitwise on them.
    assert 0 < distance(mixed, f32) < 0.25 * distance(f32, init)


@pytest.mark.parametrize(
    "gpus, flags, policy",
    [
        ([(8, 0), (9, 0)], set(), "mixed_float16"),  # tensor cores: fp16, loss scaling
        ([(6, 1)], {"avx512_bf16"}, "float32"),  # a GPU without them, whatever the CPU
        ([], {"avx512f", "avx512_bf16"}, "mixed_bfloat16"),
        ([], {"amx_bf16"}, "mixed_bfloat16"),
        ([], {"avx2", "avx512f"}, "float32"),
    ],
)
def test_auto_precision_picks_by_hardware(gpus, flags, policy):
    chosen, why = runtime.auto_precision(gpus=gpus, flags=flags)
    assert chosen == policy and why


def test_cpu_flags_reads_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\nbugs\t: x\n")
    assert runtime.cpu_flags(str(info)) == {"fpu", "avx512f", "avx512_bf16"}
    assert runtime.cpu_flags(str(tmp_path / "missing")) == set()


def test_auto_precision_sets_this_machines_policy_and_trains(tmp_path):
    proc = run_python(
        ["tests/workers/train_worker.py", f"--workdir={tmp_path}", "--precision=auto"]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"policy {runtime.auto_precision()[0]}" in proc.stdout
    assert all(np.isfinite(w).all() for w in load_npz(tmp_path / "0_weights.npz"))
