"""G2C's shared generator stages (`g2c.stage_cache`, `kerasg2c.jobs.stage_cache`): one
training per stage config and data, reused by the runs that differ elsewhere."""

import contextlib
import os
import threading
import time

import pytest
import tensorflow as tf

from kerasg2c.jobs import config_files, g2c_job, stage_cache


def _config(tmp_path, **changes):
    config = config_files.load("configs/g2c.py")
    config.workdir = str(tmp_path / changes.pop("run", "run"))
    config.g2c.stain_source = "supervised"
    config.g2c.stage_cache = str(tmp_path / "cache")
    for key, value in changes.items():
        section, _, name = key.rpartition(".")
        target = config
        for part in filter(None, section.split(".")):
            target = target[part]
        target[name] = value
    return config


class _Job:
    """A generator stage that writes its generator files and counts its trainings."""

    def __init__(self):
        self.trained = []

    def train_and_evaluate(self, stage, context):
        self.trained.append(stage.workdir)
        os.makedirs(os.path.join(stage.workdir, "generators"))
        for stain in stage.cyclegan.target_stains:
            open(os.path.join(stage.workdir, "generators", f"{stain}.keras"), "w").close()


class _Context:
    strategy = tf.distribute.get_strategy()
    data_root = "/data"

    @contextlib.contextmanager
    def stage(self, config):
        yield self


@pytest.fixture
def job(monkeypatch):
    job = _Job()
    monkeypatch.setitem(g2c_job.GENERATOR_STAGES, "supervised", ("supervised_stage", job))
    return job


def test_runs_that_differ_in_labels_or_attention_share_one_stage(tmp_path, job):
    first = g2c_job.run_generator_stage(_config(tmp_path), _Context())
    same = [
        _config(tmp_path, run="ten_patients", **{"data.max_train_patients": 10}),
        _config(tmp_path, run="no_attention", variant="PAS_ALL"),
    ]
    assert all(g2c_job.run_generator_stage(c, _Context()) == first for c in same)
    assert len(job.trained) == 1 and first.startswith(str(tmp_path / "cache" / "supervised-"))
    other = [
        _config(tmp_path, seed=1),
        _config(tmp_path, **{"data.phantoms.pas_matrix_fade": 0.9}),
        _config(tmp_path, **{"supervised_stage.train.epochs": 3}),
        _config(tmp_path, variant="PAS_HE"),  # other stains
    ]
    folders = {g2c_job.run_generator_stage(c, _Context()) for c in other}
    assert len(folders) == 4 and first not in folders and len(job.trained) == 5


def test_without_the_cache_the_stage_stays_in_the_workdir(tmp_path, job):
    config = _config(tmp_path)
    config.g2c.stage_cache = ""
    folder = g2c_job.run_generator_stage(config, _Context())
    assert folder == str(tmp_path / "run" / "supervised" / "generators")


def test_a_second_run_waits_for_the_one_training_the_stage(tmp_path):
    stage_dir = str(tmp_path / "cache" / "cyclegan-abc")
    order = []

    def second():
        with stage_cache.locked(stage_dir):
            order.append("second")

    with stage_cache.locked(stage_dir):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first done")
    thread.join(timeout=10)
    assert order == ["first done", "second"]


def test_a_multi_worker_run_is_refused_the_cache_naming_its_key():
    from kerasg2c.errors import UserError

    multi = tf.distribute.MultiWorkerMirroredStrategy
    with pytest.raises(UserError, match="config key ki67.stage_cache: not in a multi-worker"):
        stage_cache.refuse_multi_worker(multi.__new__(multi), "ki67.stage_cache")
    stage_cache.refuse_multi_worker(tf.distribute.get_strategy(), "ki67.stage_cache")  # one
