"""A training set smaller than one step needs: the trainers that can (the GANs, the
classifier, the translators) repeat it, reshuffled per pass, and say so in one line; MIL
refuses it with the true limit and the keys that change it (one line, exit 2). The
repetition keeps every epoch a function of (seed, epoch)."""

import concurrent.futures
import json
import os
import re

import numpy as np
import pytest
from conftest import INFOWGAN_TINY, REPO, prefetched, run_python, tiny_flags, trainer_args
from PIL import Image

from kerasg2c.data import pipeline, stain_pairs
from kerasg2c.errors import UserError
from kerasg2c.jobs import config_files, train_settings

N, B, S = 5, 4, 8  # 5 images, batches of 4, 8 px


def _config(name, **train):
    config = config_files.load(os.path.join(REPO, "configs", f"{name}.py"))
    config.train.update(train)
    return config


def test_steps_per_epoch_repeats_a_small_set_and_logs_one_line(caplog):
    config = _config("histogan")  # defaults: 16 per critic update, 5 critic updates
    keys = ("train.batch_size", "histogan.n_critic")
    # absl's logger: an earlier test in the session may have set its verbosity to WARNING.
    with caplog.at_level("INFO", logger="absl"):
        assert train_settings.steps_per_epoch(config, 48, "the training split", keys) == 1
        assert train_settings.steps_per_epoch(config, 160, "the training split", keys) == 2
    lines = [r.getMessage() for r in caplog.records if "repeated" in r.getMessage()]
    assert lines == [
        "48 images < 80 per step (train.batch_size=16, histogan.n_critic=5): the set is repeated"
    ]
    config.train.steps_per_epoch = 3  # beyond one pass of 160: repeated too
    assert train_settings.steps_per_epoch(config, 160, "the training split", keys) == 3


def test_steps_per_epoch_refuses_with_the_true_limit_where_it_cannot_repeat():
    config = _config("mil", batch_size=32)
    with pytest.raises(UserError) as error:
        train_settings.steps_per_epoch(config, 20, "the training split", repeat=False)
    assert str(error.value) == (
        "the training split: 20 examples < 32 per step (train.batch_size=32); lower "
        "train.batch_size so that a step reads at most 20"
    )
    config.train.steps_per_epoch = 3
    with pytest.raises(UserError, match=r"use train.steps_per_epoch at most 2 \(0 = one pass\)"):
        train_settings.steps_per_epoch(config, 70, "the training split", repeat=False)


def _split(tmp_path, n=N, name="a"):
    """A split whose image i is the flat grey level 20 * i + 40 (its index, read back)."""
    paths = []
    for i in range(n):
        path = tmp_path / name / "c0" / f"p{i}__x.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((S, S, 3), 20 * i + 40, np.uint8)).save(path)
        paths.append(str(path))
    labels = np.zeros(n, np.int32)
    return pipeline.LabeledSplit("train", ("c0",), tuple(paths), labels, ("p",) * n)


def _indices(batches):
    return [int(round((v * 255 - 40) / 20)) for x in batches for v in x.mean(axis=(1, 2, 3))]


def _epoch(split, **kwargs):
    kwargs = {"batch_size": B, "image_size": S, "training": True, "seed": 3, **kwargs}
    return [x.numpy() for x, _ in split.dataset(**kwargs)]


def test_a_repeated_split_is_reshuffled_per_pass_and_deterministic(tmp_path):
    split = _split(tmp_path)
    assert _epoch(split, batch_size=8) == []  # one pass: no whole batch of 8 in 5 images
    batches = _epoch(split, repeat_to=12, augment=True)
    order = _indices(_epoch(split, repeat_to=12))
    assert len(batches) == 3 and len(order) == 12
    assert sorted(order[:5]) == sorted(order[5:10]) == list(range(N))  # whole passes
    assert order[:5] != order[5:10]  # each pass its own order (seed 3)
    fresh = _split(tmp_path)  # a new split object: the same batches, bitwise
    assert all(
        np.array_equal(a, b) for a, b in zip(batches, _epoch(fresh, repeat_to=12, augment=True))
    )
    resumed = _epoch(fresh, repeat_to=12, augment=True, skip_batches=1)
    assert all(np.array_equal(a, b) for a, b in zip(batches[1:], resumed)) and len(resumed) == 2
    assert _indices(_epoch(split, repeat_to=12, epoch=1)) != order  # another epoch, another order
    # A split as large as repeat_to is one pass, as without it.
    assert _indices(_epoch(split, repeat_to=4, batch_size=2)) == _indices(
        _epoch(split, batch_size=2)
    )


def test_translator_datasets_repeat_small_sides(tmp_path):
    a, b = _split(tmp_path, 3, "a"), _split(tmp_path, 2, "b")
    sources = (a.source, b.source)
    with pytest.raises(UserError, match="3 and 2 images, fewer than one batch of 4"):
        stain_pairs.unpaired_dataset(*sources, batch_size=B, image_size=S)
    pairs = stain_pairs.unpaired_dataset(*sources, batch_size=B, image_size=S, repeat_to=8)
    pairs = [(x.numpy() + 1) / 2 for pair in pairs for x in pair]
    assert len(pairs) == 4  # 2 batches of (a, b)
    side_a, side_b = _indices(pairs[0::2]), _indices(pairs[1::2])
    assert sorted(side_a[:3]) == [0, 1, 2] and sorted(side_b[:2]) == sorted(side_b[2:4]) == [0, 1]
    aligned = stain_pairs.paired_dataset(a, _split(tmp_path, 3, "c"), batch_size=B, image_size=S)
    assert len(list(aligned)) == 0
    aligned = stain_pairs.paired_dataset(
        a, _split(tmp_path, 3, "c"), batch_size=B, image_size=S, repeat_to=4
    )
    ((x, y),) = list(aligned)
    assert np.array_equal(x.numpy(), y.numpy())  # still the same patch on both sides


# --- The trainers, end to end --------------------------------------------------------

HISTOGAN_48 = [  # image size, widths and epochs cut; train.batch_size and n_critic as shipped
    "--config.data.phantoms.n_train=48",
    "--config.data.phantoms.n_val=8",
    "--config.data.phantoms.n_test=8",
    "--config.data.phantoms.n_reference=2",
    "--config.data.phantoms.size=32",
    "--config.data.image_size=16",
    "--config.histogan.n_stages=1",
    "--config.histogan.channels=8",
    "--config.histogan.noise_dim=8",
    "--config.histogan.minibatch_kernels=4",
    "--config.histogan.fid_warmup_epochs=1",
    "--config.histogan.fid_samples=16",
    "--config.train.epochs=1",
]
GAN_TRANSLATOR = [
    "--config.data.phantoms.n_train=2",
    "--config.data.phantoms.n_val=4",
    "--config.data.phantoms.n_test=4",
    "--config.data.phantoms.n_reference=2",
    "--config.data.phantoms.size=32",
    "--config.data.image_size=32",
    "--config.cyclegan.target_stains=HE",
    "--config.model.ngf=4",
    "--config.model.n_blocks=1",
    "--config.optimizer.constant_epochs=1",
    "--config.optimizer.decay_epochs=0",
    "--config.train.epochs=1",
]
RUNS = {  # trainer, flags, exit code, what stderr says
    "histogan": (
        "histogan",
        HISTOGAN_48,
        0,
        r"48 images < 80 per step \(train.batch_size=16, histogan.n_critic=5\): the set is "
        r"repeated",
    ),
    "classifier": (
        "classifier",
        [*tiny_flags(n_train=6), "--config.train.epochs=1"],
        0,
        r"6 images < 8 per step \(train.batch_size=8\): the set is repeated",
    ),
    "cyclegan": (
        "cyclegan",
        [*GAN_TRANSLATOR, "--config.model.ndf=4", "--config.cyclegan.identity_warmup_epochs=0"],
        0,
        r"2 images < 4 per step \(train.batch_size=4\): the set is repeated",
    ),
    "paired_translator": (
        "paired_translator",
        GAN_TRANSLATOR,
        0,
        r"2 images < 4 per step \(train.batch_size=4\): the set is repeated",
    ),
    "infowgan": (
        "infowgan",
        [*INFOWGAN_TINY, "--config.train.epochs=1"],
        0,
        r"\d+ images < 64 per step \(train.batch_size=32, infogan.n_critic=2\): the set is "
        r"repeated",
    ),
    "mil": (
        "mil",
        [
            "--config.data.image_size=128",
            "--config.data.phantoms.size=128",
            "--config.data.phantoms.n_train=32",
            "--config.data.phantoms.n_val=4",
            "--config.data.phantoms.n_test=4",
            "--config.train.batch_size=64",
        ],
        2,
        r"^error: the training split \(tiles; one instance each per epoch\): \d+ examples < 64 "
        r"per step \(train.batch_size=64\); lower train.batch_size so that a step reads at most",
    ),
}


# A ready feature extractor for the HistoGAN run, saved by a subprocess (no TensorFlow may
# run in a @prefetched body).
EXTRACTOR_SCRIPT = """
import sys
import tensorflow as tf
from kerasg2c.models.classifier import Classifier
extractor = Classifier(3, widths=(8, 16), blocks_per_unit=1, stem_width=8)
extractor(tf.zeros((1, 16, 16, 3)))
extractor.save(sys.argv[1])
"""


@prefetched()
def runs(tmp_path_factory):
    """Every RUNS command (HistoGAN with a ready feature extractor), three at a time, on
    the background thread while other tests run."""
    tmp = tmp_path_factory.mktemp("small")
    os.makedirs(tmp / "extractor")
    proc = run_python(["-c", EXTRACTOR_SCRIPT, str(tmp / "extractor" / "model.keras")])
    assert proc.returncode == 0, proc.stderr[-4000:]
    commands = []
    for name, (trainer, flags, _, _) in RUNS.items():
        if trainer == "histogan":
            flags = [*flags, f"--config.histogan.feature_extractor={tmp / 'extractor'}"]
        commands.append(trainer_args(trainer, tmp / name, *flags))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        return tmp, dict(zip(RUNS, pool.map(run_python, commands)))


def test_histogan_ships_the_batch_and_critic_updates_the_test_keeps():
    config = _config("histogan")
    assert (config.train.batch_size, config.histogan.n_critic) == (16, 5)
    assert not any("batch_size" in f or "n_critic" in f for f in HISTOGAN_48)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_a_small_set_trains_or_is_refused_in_one_line(runs, name):
    tmp, procs = runs
    _, _, code, said = RUNS[name]
    proc = procs[name]
    assert proc.returncode == code, proc.stderr[-4000:]
    if code:
        assert "Traceback" not in proc.stderr
        assert re.search(said, proc.stderr.strip().splitlines()[-1]), proc.stderr[-2000:]
        return
    assert len(re.findall(said, proc.stderr)) >= 1, proc.stderr[-4000:]
    report = json.loads((tmp / name / "report.json").read_text())
    assert report  # the run finished and reported
