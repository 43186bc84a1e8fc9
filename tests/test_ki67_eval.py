"""The Ki-67 evaluation job end to end on tiny H&E / Ki-67 twins: MIL per stain, the
relabelled view, raw and conditional CycleGAN, the Ki-67 index table (IHC paper,
Tables 3–4)."""

import concurrent.futures
import csv
import json
import os

import numpy as np
import pytest
from conftest import prefetched, run_python, trainer_args
from job_harness import trained_run

TINY = [
    "--config.data.phantoms.n_train=12",
    "--config.data.phantoms.n_val=4",
    "--config.data.phantoms.n_test=4",
    "--config.data.phantoms.n_reference=2",
    "--config.data.phantoms.size=64",
    "--config.data.image_size=64",
    "--config.ki67.figure_rows=2",
    "--config.mil_stage.mil.instance_size=32",
    "--config.mil_stage.model.widths=(8,)",
    "--config.mil_stage.model.stem_width=8",
    "--config.mil_stage.train.epochs=1",
    "--config.mil_stage.train.batch_size=4",
    "--config.cyclegan_stage.model.ngf=4",
    "--config.cyclegan_stage.model.ndf=4",
    "--config.cyclegan_stage.model.n_blocks=1",
    "--config.cyclegan_stage.cyclegan.identity_warmup_epochs=0",
    "--config.cyclegan_stage.optimizer.constant_epochs=1",
    "--config.cyclegan_stage.train.epochs=1",
    "--config.cyclegan_stage.train.batch_size=4",
]


@prefetched()
def run(tmp_path_factory):
    return trained_run(tmp_path_factory, "ki67_eval", TINY)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_writes_table_report_and_figure(run):
    report = json.loads((run / "report.json").read_text())
    assert report["trainer"] == "ki67_eval"
    for name in report["files"]:
        assert (run / name).exists(), name
    table = _rows(run / "ki67_table.csv")
    for split in ("val", "test"):
        sources = [r["source"] for r in table if r["split"] == split]
        assert sources == ["true", "real", "raw", "conditional"]
    assert "| conditional |" in (run / "ki67_table.md").read_text()
    for stain in ("HE", "KI67"):
        assert set(report["mil"][stain]["patch_accuracy"]) == {"train", "val", "test"}


def test_real_row_is_ki67_index_of_the_twins(run):
    from PIL import Image

    from kerasg2c.pathology import ki67

    patches = [r for r in _rows(run / "ki67_patches.csv") if r["split"] == "test"]
    twin = run / "data" / "paired" / "KI67" / patches[0]["file"]
    expected = ki67.ki67_index(np.asarray(Image.open(twin).convert("RGB"))).index
    assert float(patches[0]["real"]) == pytest.approx(expected, nan_ok=True)
    real = [r for r in _rows(run / "ki67_table.csv") if r["split"] == "test"][1]
    values = np.array([float(p["real"]) for p in patches])
    if np.isnan(values).all():
        assert real["mean_index"] == ""
    else:
        assert float(real["mean_index"]) == pytest.approx(np.nanmean(values))
    true = {r["file"]: float(r["index"]) for r in _rows(run / "data" / "ki67" / "test.csv")}
    assert [float(p["true"]) for p in patches] == [true[p["file"]] for p in patches]


def test_relabelled_view_holds_the_mil_predictions(run):
    predicted = {(r["stain"], r["file"]): r["predicted"] for r in _rows(run / "relabel.csv")}
    view = run / "views" / "relabelled"
    seen = 0
    for folder, stain in (("labeled", "HE"), (os.path.join("paired", "KI67"), "KI67")):
        for split in ("train", "test"):
            for cls_dir in (view / folder / split).iterdir():
                for link in cls_dir.iterdir():
                    target = os.readlink(link)
                    assert predicted[(stain, target)] == cls_dir.name
                    seen += 1
    assert seen


def test_conditional_generator_reads_the_class_channels(run):
    import keras

    import kerasg2c.models  # noqa: F401
    from kerasg2c.jobs import ki67_scoring

    generator = keras.saving.load_model(
        run / "cyclegan_conditional" / "generators" / "KI67.keras", compile=False
    )
    patch = np.asarray(
        ki67_scoring.read_uint8(next((run / "data" / "labeled" / "test" / "tumour").iterdir()), 64)
    )[None]
    as_normal = ki67_scoring.translate(generator, patch, np.array([0]), 2).astype(int)
    as_tumour = ki67_scoring.translate(generator, patch, np.array([1]), 2).astype(int)
    assert np.abs(as_normal - as_tumour).max() > 0


def test_check_refuses_a_bad_stage_key(tmp_path):
    cases = (
        ("--config.mil_stage.mil.instance_size=24", "mil_stage.mil.instance_size"),
        ("--config.cyclegan_stage.model.ngf=0", "cyclegan_stage.model.ngf"),
        # Not a class of the twins: refused before any stage trains, naming the stage key.
        ("--config.mil_stage.mil.positive_class=tumor", "mil_stage.mil.positive_class='tumor'"),
    )

    def run(case):  # side by side: each is mostly a TensorFlow import
        flag, key = case
        return run_python(trainer_args("ki67_eval", tmp_path / key, *TINY, flag))

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(run, cases))
    for (_, key), proc in zip(cases, procs):
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert key in proc.stderr


def test_mil_classes_map_to_the_dataset_classes_by_name(run, tmp_path):
    """The MIL stage's labels 0 / 1 are its report's [negative, positive], so a dataset
    listing its tumour class first (`cancer`, `normal`) gets each patch's class by name,
    and the conditional generator its own class index by name, never by position."""
    import shutil

    from kerasg2c.data import pipeline
    from kerasg2c.errors import UserError
    from kerasg2c.jobs import ki67_eval_job, ki67_scoring

    split = pipeline.load_labeled_split(str(run / "data"), "test")
    same = ki67_eval_job.mil_predictions(run / "mil_HE", split, 64, ("normal", "tumour"))
    folder = tmp_path / "mil_cancer_first"
    folder.mkdir()
    shutil.copy(run / "mil_HE" / "model.keras", folder / "model.keras")
    (folder / "report.json").write_text(json.dumps({"classes": ["normal", "cancer"]}))
    conditional = json.loads((run / "cyclegan_conditional" / "report.json").read_text())
    assert conditional["condition_classes"] == ["normal", "tumour"]  # channel order, by name
    swapped = ki67_eval_job.mil_predictions(folder, split, 64, ("cancer", "normal"))
    np.testing.assert_array_equal(swapped, 1 - same)  # positive → "cancer" = index 0
    got = ki67_scoring.condition_indices(
        np.array([0, 1, 0]), ("cancer", "normal"), ("normal", "cancer")
    )
    np.testing.assert_array_equal(got, [1, 0, 1])
    with pytest.raises(UserError, match=r"\['cancer'\] predicted at evaluation"):
        ki67_scoring.condition_indices(np.array([0]), ("cancer", "normal"), ("normal",))
