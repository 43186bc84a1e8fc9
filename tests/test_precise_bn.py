"""Precise batch-norm statistics: exact averages of batch moments, a short run's inference
mode brought back to its batch-statistics accuracy, and the job's history."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_python, tiny_flags, trainer_args

from kerasg2c.data import pipeline
from kerasg2c.models.classifier import Classifier
from kerasg2c.phantoms import glomeruli
from kerasg2c.training import precise_bn

STRATEGY = tf.distribute.get_strategy()


def _labeled(images):
    return tf.data.Dataset.from_tensor_slices((images, np.zeros(len(images), np.int32)))


def test_statistics_are_the_average_of_the_batch_moments():
    inner = keras.Sequential([keras.layers.BatchNormalization(momentum=0.9)])  # nested
    model = keras.Sequential([inner, keras.layers.Conv2D(2, 1)])
    model.build((None, 4, 4, 3))
    rng = np.random.default_rng(0)
    batches = (rng.normal(size=(3, 5, 4, 4, 3)) * [1, 2, 3] + [5, -1, 0]).astype(np.float32)
    dataset = _labeled(batches.reshape(15, 4, 4, 3)).batch(5)

    precise = precise_bn.PreciseBatchNorm(model, STRATEGY)
    assert precise.recompute(dataset) == 3
    bn = inner.layers[0]
    np.testing.assert_allclose(
        bn.moving_mean.numpy(), batches.mean(axis=(1, 2, 3)).mean(0), rtol=1e-5
    )
    np.testing.assert_allclose(
        bn.moving_variance.numpy(), batches.var(axis=(1, 2, 3)).mean(0), rtol=1e-5
    )
    assert bn.momentum == 0.9  # restored after the pass
    before = bn.moving_mean.numpy().copy()
    assert precise.disagreement(dataset) is not None
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)  # a measurement only
    doubled = dataset.map(lambda x, y: (2 * x, y))  # the traced steps are reused
    assert precise.recompute(doubled) == 3
    np.testing.assert_allclose(bn.moving_mean.numpy(), 2 * before, rtol=1e-5)


@pytest.fixture(scope="module")
def train_split(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantoms")
    glomeruli.write_dataset(root, n_train=48, n_val=12, n_test=12, n_reference=1, size=32)
    return pipeline.load_labeled_split(str(root), "train")


def test_a_short_run_gets_its_batch_statistics_accuracy_back(train_split):
    model = Classifier(3, widths=(8, 16), blocks_per_unit=1, stem_width=8)
    model(tf.zeros((1, 32, 32, 3)))
    model.optimizer = keras.optimizers.SGD(0.05, momentum=0.5)
    step = tf.function(model.train_step)
    for epoch in range(3):  # 18 steps: the moving averages still trail the weights
        for batch in train_split.dataset(batch_size=8, image_size=32, training=True, epoch=epoch):
            step(batch)
    images, labels = next(iter(train_split.dataset(batch_size=48, image_size=32)))

    def accuracy(training):
        with precise_bn._momentum(precise_bn.batch_norm_layers(model), 1.0):
            predicted = np.argmax(model(images, training=training), -1)
        return float(np.mean(predicted == labels.numpy()))

    batch_statistics = accuracy(True)
    assert batch_statistics - accuracy(False) >= 0.1
    batches = train_split.dataset(batch_size=8, image_size=32, training=True)
    assert precise_bn.PreciseBatchNorm(model, STRATEGY).recompute(batches) == 6
    assert abs(accuracy(False) - batch_statistics) <= 0.05


def test_the_classifier_job_reports_the_disagreement_it_corrected(tmp_path):
    proc = run_python(
        trainer_args("classifier", tmp_path, *tiny_flags(), "--config.train.epochs=1")
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["precise_bn_batches"] == 3  # 24 training patches, batches of 8
    assert 0 <= report["history"][0]["val_bn_disagreement_before"] <= 1
