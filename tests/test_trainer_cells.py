"""`python -m trainers.cells` and the cells job's parts on tiny cell phantom tiles: its bad keys,
the job end to end (its InfoWGAN-GP stage trained on the tiles' segmented crops,
segmentation, proportions, image-level classification), the scored crops equal to the
trained ones, untyped crops trained on but not scored, and the stage's DATA_ROOT that
`cells.stage_cells` picks."""

import csv
import json
import os

import numpy as np
import pytest
from conftest import INFOWGAN_TINY, REPO, prefetched, run_python, trainer_args
from job_harness import assert_bad_key_named
from PIL import Image

from kerasg2c.jobs import cells_job, config_files, infowgan_job, tile_crops
from kerasg2c.phantoms import cell_shapes, cell_tiles
from kerasg2c.phantoms import cells as cell_phantoms


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("cells.cv_folds", 1, "config key cells.cv_folds=1"),
        ("cells.splits", "train,holdout", "config key cells.splits"),
        ("cells.infogan_run", "/nonexistent", "config key cells.infogan_run"),
        ("cells.reinhard_target", "/nonexistent.png", "config key cells.reinhard_target"),
        ("infogan_stage.infogan.k_sweep", (4, 4), "infogan_stage.infogan.k_sweep=(4, 4)"),
        ("cells.reinhard_mean", (8.98,), "config key cells.reinhard_mean"),
        ("cells.angle_percentile", 50.0, "config key cells.angle_percentile=50.0"),
        ("cells.protrusion_width", -1, "config key cells.protrusion_width"),
        ("infogan_stage.infogan.channels", 0, "infogan_stage.infogan.channels=0"),
        ("cells.stage_cells", "crops", "config key cells.stage_cells='crops'"),
        ("infogan_stage.data.root", "/data/cells", "config key infogan_stage.data.root"),
    ],
)
def test_cells_bad_keys_are_named(key, value, message):
    assert_bad_key_named("cells", cells_job.check, key, value, message)


@prefetched()
def cells_run(tmp_path_factory):
    """(workdir, process) of the cells job on 16 tiles, its InfoWGAN-GP stage trained for 1
    epoch on the training tiles' crops."""
    tmp_path = tmp_path_factory.mktemp("cells")
    workdir = tmp_path / "cells"
    tiny = [*INFOWGAN_TINY, "--config.train.batch_size=4", "--config.train.epochs=1"]
    stage = [f"--config.infogan_stage.{flag[len('--config.') :]}" for flag in tiny]
    # Reinhard to another phantom tile's colour statistics before stain estimation.
    target = tmp_path / "target.png"
    tile = cell_tiles.make_tile(np.random.default_rng(7), size=128)
    Image.fromarray(tile.image).save(target)
    tiles = [
        f"--config.cells.reinhard_target={target}",
        "--config.data.phantoms.n_train=8",
        "--config.data.phantoms.n_val=4",
        "--config.data.phantoms.n_test=4",
        "--config.data.phantoms.size=128",
    ]
    return workdir, run_python(trainer_args("cells", workdir, *tiles, *stage))


def test_cells_job_trains_its_infogan_stage_and_classifies_tiles(cells_run):
    workdir, proc = cells_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "segmented 16/16 tiles" in proc.stderr
    report = json.loads((workdir / "report.json").read_text())
    # The stage (cells.stage_cells = "tiles", the default) trained on the crops segmented
    # from the 8 training tiles, written as PNGs equal to the crops segment_tile cuts.
    config = config_files.load(os.path.join(REPO, "configs", "cells.py"))
    config.cells.reinhard_target = str(workdir.parent / "target.png")
    target = tile_crops.reinhard_target(config)
    crops = workdir / "infogan" / "data" / "labeled"
    n_train = 0
    for tile in sorted((workdir / "data" / "labeled" / "train").glob("*/*.png")):
        found = tile_crops.segment(config, np.asarray(Image.open(tile).convert("RGB")), 32, target)
        written = sorted(crops.glob(f"train/*/*_{tile.parent.name}_{tile.stem}_*.png"))
        assert len(written) == len(found)
        for path in written:
            crop = found.crops[int(path.stem.rsplit("_", 1)[1])]
            np.testing.assert_array_equal(np.asarray(Image.open(path)), crop)
        n_train += len(found)
    stage_report = json.loads((workdir / "infogan" / "report.json").read_text())
    assert stage_report["data"]["train"]["n"] == n_train > 8
    stage = report["stage"]
    assert stage["cells"] == "tiles" and stage["crops"]["train"] == n_train
    assert 0 < stage["typed"]["test"] <= stage["crops"]["test"]  # matched to mask instances
    scored = stage_report["clustering"]
    assert scored["scored"] and scored["infowgan_q"]["n"] == stage["typed"]["test"]
    assert stage["clustering"] == scored["infowgan_q"]
    assert report["trainer"] == "cells" and report["classes"] == ["normal", "abnormal"]
    assert report["tiles"] == {"train": 8, "val": 4, "test": 4}
    assert report["infogan_run"] == str(workdir / "infogan")
    segmentation = report["segmentation"]
    assert segmentation["tiles"] == 16 and segmentation["object_f_score"] > 0.8
    assert segmentation["iou"] > 0.8
    cells = report["cells"]
    assert len(cells["per_cluster"]) == 5 and sum(cells["per_cluster"]) == cells["total"] > 16
    for arm in ("infowgan_q", "true_types"):
        level = report["image_level"][arm]
        assert level["n"] == 16 and level["n_splits"] == 4
        assert 0 <= level["svm"]["f1"] <= 1 and len(level["kmeans"]["f1_per_fold"]) == 4
    with open(workdir / "proportions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16
    for row in rows:
        shares = [float(row[f"cluster_{c}"]) for c in range(5)]
        assert sum(shares) == pytest.approx(1.0, abs=1e-5) or int(row["n_cells"]) == 0
    assert (workdir / "proportions_pca.png").stat().st_size > 0


def test_scored_crops_equal_the_training_crops_of_the_same_files(tmp_path):
    """The crops `cells_job` scores (segmentation → `nuclei.fit_crop` → `cell_inputs`) and
    the cells `infowgan_job` trains on and scores (files → `cell_split`) are one path: the
    same crops written as PNGs read back equal, value for value, and a file larger than 32
    is shrunk with its aspect kept and centred on white, not stretched."""
    from test_nuclei import synthetic_he_tile

    from kerasg2c.data import pipeline
    from kerasg2c.pathology import nuclei

    found = nuclei.segment_tile(synthetic_he_tile())
    assert len(found) == 6
    folder = tmp_path / "labeled" / "train" / "cell"
    folder.mkdir(parents=True)
    for n, crop in enumerate(found.crops):
        Image.fromarray(crop).save(folder / f"{n:03d}.png")
    wide = np.random.default_rng(0).integers(0, 200, (20, 48, 3)).astype(np.uint8)
    Image.fromarray(wide).save(folder / "wide.png")
    split = infowgan_job.cell_split(pipeline.load_labeled_split(str(tmp_path), "train"), 32)
    order = np.argsort(split.paths)
    read = pipeline.load_images(split, 32)[order]  # what evaluate() scores
    scored = infowgan_job.cell_inputs(found.crops)  # what cells_job scores
    np.testing.assert_array_equal(read[:6], scored)
    expected_wide = nuclei.fit_crop(wide, 32)
    assert (expected_wide[:6] == 255).all()  # 48×20 → 32×13, white above and below
    np.testing.assert_array_equal(read[6], infowgan_job.cell_inputs(expected_wide[None])[0])
    batches = split.dataset(batch_size=7, image_size=32, training=True, seed=3)
    trained = np.concatenate([images.numpy() for images, _ in batches])
    key = lambda images: sorted(x.tobytes() for x in images)  # noqa: E731
    assert key(trained) == key(read)


def test_untyped_crops_are_trained_on_but_not_scored(tmp_path):
    """Tiles without instance types (a user's own) give only `unknown` crops: the stage's
    data loads, and its evaluation says the clustering is not scored; with some typed
    test cells only those are scored."""
    from kerasg2c.data import pipeline

    root = tmp_path / "tiles"
    cell_phantoms.write_tiles(root, n_train=1, n_val=1, n_test=2, seed=3, size=128)
    (root / "counts" / "test.csv").unlink()  # the test tiles' types unknown
    config = config_files.load(os.path.join(REPO, "configs", "cells.py"))
    tiles, classes = cells_job.list_tiles(str(root), cells_job.SPLITS)
    out = tmp_path / "crops"
    summary = tile_crops.write_stage_data(str(out), config, str(root), tiles, classes, 32)
    assert summary["typed"]["test"] == 0 < summary["typed"]["train"] <= summary["crops"]["train"]
    assert not (out / "labeled" / "test" / "myeloblast").exists()
    stage = config.infogan_stage
    stage.infogan.channels, stage.infogan.noise_dim = 8, 8
    model = infowgan_job.build_model(stage)
    loaded = {
        s: infowgan_job.cell_split(pipeline.load_labeled_split(str(out), s), 32)
        for s in ("train", "test")
    }
    report = infowgan_job.evaluate(stage, model, loaded)
    assert not report["clustering"]["scored"] and "not scored" in report["clustering"]["note"]
    assert not report["svm"]["scored"]
    # The training split's typed crops are scored when they are the test split.
    loaded["test"] = loaded["train"]
    report = infowgan_job.evaluate(stage, model, loaded)
    q = report["clustering"]["infowgan_q"]
    assert q["n"] == summary["typed"]["train"]
    assert report["clustering"]["n_unknown"] == summary["crops"]["train"] - q["n"]


@pytest.mark.parametrize("stage_cells", ["own", "tiles"])
def test_cells_stage_data_follows_stage_cells(tmp_path, monkeypatch, stage_cells):
    """`cells.stage_cells` picks the stage's DATA_ROOT: "own" writes the stage's cell
    phantoms (five types), "tiles" the crops segmented from the job's tiles (every
    training crop, typed or `unknown`)."""
    import contextlib

    from kerasg2c.data import layout

    root = tmp_path / "tiles"
    cell_phantoms.write_tiles(root, n_train=2, n_val=1, n_test=1, seed=5, size=128)
    config = config_files.load(os.path.join(REPO, "configs", "cells.py"))
    config.cells.stage_cells = stage_cells
    phantoms = config.infogan_stage.data.phantoms
    phantoms.n_train, phantoms.n_val, phantoms.n_test = 6, 5, 5

    class Context:
        chief, workdir, data_root = False, str(tmp_path / "run"), str(root)

        @contextlib.contextmanager
        def stage(self, stage, write_phantoms):
            data = os.path.join(stage.workdir, "data")
            write_phantoms(data, stage)
            yield data

    seen = {}
    monkeypatch.setattr(infowgan_job, "train_and_evaluate", lambda _, data: seen.update(root=data))
    cells_job.infogan_model(config, Context())
    classes = layout.read_dataset_info(seen["root"]).classes
    train = list((tmp_path / "run" / "infogan" / "data" / "labeled" / "train").glob("*/*.png"))
    if stage_cells == "own":
        assert classes == cell_shapes.TYPES and len(train) == 6
        return
    assert classes == (*cell_shapes.TYPES, "unknown")
    tiles = sorted((root / "labeled" / "train").glob("*/*.png"))
    rgb = [np.asarray(Image.open(t).convert("RGB")) for t in tiles]
    assert len(train) == sum(len(tile_crops.segment(config, x, 32)) for x in rgb) > 2
