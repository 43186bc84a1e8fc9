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


def test_each_generator_learns_the_identity_of_its_side(tmp_path):
    config = _config(tmp_path, identity_warmup_epochs=25)
    rng = np.random.default_rng(0)
    a, b = _smooth(rng, 16), _smooth(rng, 16) * 0.5
    model = cyclegan_job.build_model(config, num_classes=0)

    def make_dataset(epoch, skip):
        return tf.data.Dataset.from_tensor_slices((a, b)).batch(4).skip(skip)

    def error(generator, x):
        return float(np.abs(generator(x, training=False).numpy() - x).mean())

    before = error(model.generator_ab, a), error(model.generator_ba, b)
    context = types.SimpleNamespace(strategy=tf.distribute.get_strategy())
    identity_warmup.warm_up(config, context, str(tmp_path), model, make_dataset, 4)
    after = error(model.generator_ab, a), error(model.generator_ba, b)
    assert after[0] < 0.5 * before[0] and after[1] < 0.5 * before[1], (before, after)
    for name in ("generator_ab", "generator_ba"):  # resumable runs of the one loop
        assert tf.train.latest_checkpoint(str(tmp_path / f"identity_{name}" / "checkpoints"))


def test_the_conditional_cyclegan_refuses_it(tmp_path):
    config = _config(tmp_path, identity_warmup_epochs=2, condition="labels")
    with pytest.raises(UserError, match="cyclegan.identity_warmup_epochs: not with"):
        cyclegan_job.check(config)
