"""Held-out real candidates for HistoGAN's selection (`kerasg2c.jobs.histogan_pool`): the
draw's known off-class share, its refusals, and the keys that ask for it. The pool in a
real run: tests/test_histogan_map.py."""

import numpy as np
import pytest
from job_harness import assert_bad_key_named

from kerasg2c.errors import UserError
from kerasg2c.jobs import histogan_job, histogan_pool


def test_each_class_gets_its_share_of_off_class_candidates_none_drawn_twice():
    labels = np.repeat([0, 1, 2], [40, 20, 30])
    drawn = histogan_pool.draw(labels, {0: 8, 1: 4, 2: 12}, share=0.25, seed=3)
    seen = np.concatenate([indices for indices, _ in drawn.values()])
    assert len(seen) == len(set(seen.tolist())) == 24
    for label, (indices, off) in drawn.items():
        assert off.sum() == round(0.25 * len(indices))  # 2, 1, 3
        np.testing.assert_array_equal(labels[indices] != label, off)
    again = histogan_pool.draw(labels, {0: 8, 1: 4, 2: 12}, share=0.25, seed=3)
    for label in drawn:  # a pure function of the seed
        np.testing.assert_array_equal(drawn[label][0], again[label][0])
    other = histogan_pool.draw(labels, {0: 8, 1: 4, 2: 12}, share=0.25, seed=4)
    assert any(set(drawn[c][0]) != set(other[c][0]) for c in drawn)


def test_share_zero_draws_only_the_class_and_share_one_only_the_others():
    labels = np.repeat([0, 1], [10, 10])
    for share, off_expected in ((0.0, False), (1.0, True)):
        drawn = histogan_pool.draw(labels, {0: 4, 1: 4}, share=share, seed=0)
        assert all((off == off_expected).all() for _, off in drawn.values())


def test_too_few_held_out_images_are_refused_naming_the_keys():
    labels = np.repeat([0, 1], [10, 3])
    with pytest.raises(UserError, match="class 1 needs 4 held-out images of the class and 3"):
        histogan_pool.draw(labels, {0: 4, 1: 4}, share=0.0, seed=0)
    with pytest.raises(UserError, match="lower data.max_train_patients"):
        histogan_pool.draw(labels, {0: 8, 1: 2}, share=0.5, seed=0)  # 4 + 1 of 3 others


@pytest.mark.parametrize(
    "sets, message",
    [
        ({"histogan.synthetic_source": "gan"}, "histogan.synthetic_source"),
        ({"histogan.off_class_share": 1.5}, "histogan.off_class_share=1.5"),
        (
            {"histogan.synthetic_source": "held_out", "data.max_train_patients": 0},
            "histogan.synthetic_source=held_out: the candidates are the training patients",
        ),
        ({"histogan.off_class_share": 0.25}, "needs histogan.synthetic_source=held_out"),
    ],
)
def test_bad_pool_keys_are_named(sets, message):
    *first, (key, value) = sets.items()

    def check(config):
        for k, v in first:
            section, name = k.split(".")
            config[section][name] = v
        histogan_job.check(config)

    assert_bad_key_named("histogan", check, key, value, message)
