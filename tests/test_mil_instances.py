"""Top-1 MIL's instances (kerasg2c.mil, kerasg2c.phantoms.mil_tiles): seeded MIL phantoms
whose instances are labelled by tumour fraction, the top-1 selection on hand-made scores,
the row-major cut of a tile, and tiles streamed from their files scored and read as the
in-memory tiles."""

import numpy as np
import pytest

from kerasg2c.mil import instances, selection


@pytest.fixture(scope="module")
def phantom_train_split(tmp_path_factory):
    """Six 64-px MIL phantom tiles (4 × 4 instances of 16 px) as a labeled split."""
    from kerasg2c.data import pipeline
    from kerasg2c.phantoms import mil_tiles

    root = tmp_path_factory.mktemp("phantoms")
    mil_tiles.write_tiles(root, n_train=6, n_val=2, n_test=2, size=64, instance_size=16)
    return pipeline.load_labeled_split(str(root), "train")


def _no_whole_split(split, image_size):
    raise AssertionError("pipeline.load_images: a whole split held in memory")


def test_phantoms_are_deterministic_and_label_instances_by_tumour_fraction(tmp_path):
    """Equal seeds write byte-identical roots; a tumour tile has a tumour instance and a
    normal tile none; an instance is tumour when its tumour-pixel share reaches
    TUMOUR_FRACTION (the tumour region is not aligned to the grid)."""
    from kerasg2c.phantoms import mil_tiles

    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        mil_tiles.write_tiles(root, n_train=8, n_val=2, n_test=2, size=64, instance_size=16)
    files = sorted(p.relative_to(roots[0]) for p in roots[0].rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(roots[1]) for p in roots[1].rglob("*") if p.is_file())
    for name in files:
        assert (roots[0] / name).read_bytes() == (roots[1] / name).read_bytes(), name
    for name, grid in mil_tiles.read_instance_labels(roots[0], "train").items():
        assert grid.shape == (4, 4) and grid.any() == name.split("/")[1].startswith("tumour")
    for index in range(20):
        rng = np.random.default_rng([1, index])
        image, labels, mask = mil_tiles.make_tile(rng, 64, 16, True, index % 2 == 0)
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8 and labels.any()
        shares = mask.reshape(4, 16, 4, 16).mean(axis=(1, 3))
        np.testing.assert_array_equal(labels, shares >= mil_tiles.TUMOUR_FRACTION)


def test_top1_picks_each_tiles_top_instance():
    scores = np.array([[0.1, 0.9, 0.3, 0.2], [0.5, 0.4, 0.6, 0.7], [0.0, 0.0, 0.0, 0.1]])
    np.testing.assert_array_equal(selection.top1(scores), [1, 3, 3])
    np.testing.assert_allclose(selection.tile_scores(scores), [0.9, 0.7, 0.1])
    rows = selection.training_set(scores, np.array([1, 0, 1]), seed=0, epoch=2)
    assert sorted(map(tuple, rows)) == [(0, 1, 1), (1, 3, 0), (2, 3, 1)]


def test_cut_is_row_major_over_the_grid():
    tiles = np.arange(2 * 4 * 4 * 1, dtype=np.float32).reshape(2, 4, 4, 1)
    pieces = instances.cut(tiles, 2)
    assert pieces.shape == (2, 4, 2, 2, 1)
    np.testing.assert_array_equal(pieces[1, 2], tiles[1, 2:4, 0:2])
    np.testing.assert_array_equal(instances.instance(tiles, [1], [2], 2)[0], pieces[1, 2])


def test_scorer_on_tiles_streamed_from_files_scores_like_in_memory_tiles(
    phantom_train_split, monkeypatch
):
    import keras
    import tensorflow as tf

    from kerasg2c.data import pipeline
    from kerasg2c.models.mil_classifier import MILClassifier

    in_memory = pipeline.load_images(phantom_train_split, 64)
    model = MILClassifier(instance_size=16, widths=(4,), blocks_per_unit=1, stem_width=4)
    pieces = np.reshape(instances.cut(in_memory, 16), (-1, 16, 16, 3))
    want = keras.ops.softmax(model(pieces, training=False)).numpy()[:, 1].reshape(6, 16)
    monkeypatch.setattr(pipeline, "load_images", _no_whole_split)
    score = instances.Scorer(model, tf.distribute.get_strategy(), 16, batch_size=10)
    streamed = score(instances.tile_dataset(phantom_train_split, 64))  # batches span tiles
    np.testing.assert_allclose(streamed, want, atol=1e-6)
    from_memory = score(tf.data.Dataset.from_tensor_slices(in_memory))
    np.testing.assert_array_equal(streamed, from_memory)


def test_instance_dataset_reads_each_rows_instance_from_its_tile(phantom_train_split, monkeypatch):
    from kerasg2c.data import pipeline

    in_memory = pipeline.load_images(phantom_train_split, 64)
    monkeypatch.setattr(pipeline, "load_images", _no_whole_split)
    rows = np.array([[3, 5, 1], [0, 15, 0], [3, 0, 1], [5, 7, 1]])
    ds = instances.instance_dataset(phantom_train_split.paths, rows, 64, 16, skip=1)
    got = list(ds.as_numpy_iterator())
    assert len(got) == 3
    for (image, label), (t, i, want_label) in zip(got, rows[1:]):
        np.testing.assert_array_equal(image, instances.cut(in_memory, 16)[t, i])
        assert label == want_label
