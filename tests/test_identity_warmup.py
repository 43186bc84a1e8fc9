"""The CycleGAN's identity warm start: each generator learns to reproduce its own side."""

import os
import types

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO

from kerasg2c.errors import UserError
from kerasg2c.jobs import config_files, cyclegan_job, identity_warmup


def _config(tmp_path, **cyclegan):
    config = config_files.load(os.path.join(REPO, "configs", "cyclegan.py"))
    config.workdir = str(tmp_path)
    config.data.image_size = 32
    config.model.ngf, config.model.n_blocks, config.model.ndf = 4, 1, 4
    config.optimizer.learning_rate = 2e-3
    config.train.batch_size = 4
    for key, value in cyclegan.items():
        config.cyclegan[key] = value
    return config


def _smooth(rng, n):
    """Blurry colour patches in [-1, 1] (something structured to reproduce)."""
    x = tf.image.resize(rng.uniform(-1, 1, (n, 4, 4, 3)).astype(np.float32), (32, 32))
    return x.numpy()


@pytest.mark.parametrize("num_classes", [0, 2])
def test_each_generator_learns_the_identity_of_its_side(tmp_path, num_classes):
    config = _config(tmp_path, identity_warmup_epochs=25)
    rng = np.random.default_rng(0)
    a, b = _smooth(rng, 16), _smooth(rng, 16) * 0.5
    model = cyclegan_job.build_model(config, num_classes=num_classes)
    classes = np.eye(2, dtype=np.float32)[np.arange(16) % 2]

    def make_dataset(epoch, skip):
        sides = ((a, classes), (b, classes)) if num_classes else (a, b)
        return tf.data.Dataset.from_tensor_slices(sides).batch(4).skip(skip)

    def error(generator, x):
        x_in = model.with_class(x, classes if num_classes else None)
        return float(np.abs(generator(x_in, training=False).numpy() - x).mean())

    before = error(model.generator_ab, a), error(model.generator_ba, b)
    context = types.SimpleNamespace(strategy=tf.distribute.get_strategy())
    identity_warmup.warm_up(config, context, str(tmp_path), model, make_dataset, 4)
    after = error(model.generator_ab, a), error(model.generator_ba, b)
    # Measured with TF 2.21 / Keras 3.15: 0.33 and 0.51 of the starting error (the second
    # generator starts closer: its side has half the contrast).
    assert after[0] < 0.6 * before[0] and after[1] < 0.6 * before[1], (before, after)
    for name in ("generator_ab", "generator_ba"):  # resumable runs of the one loop
        assert tf.train.latest_checkpoint(str(tmp_path / f"identity_{name}" / "checkpoints"))


def test_a_negative_warm_up_names_the_key(tmp_path):
    config = _config(tmp_path, identity_warmup_epochs=-1)
    with pytest.raises(UserError, match="cyclegan.identity_warmup_epochs=-1"):
        cyclegan_job.check(config)
