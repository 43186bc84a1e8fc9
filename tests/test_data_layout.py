"""Tests of kerasg2c.data.layout: reading a DATA_ROOT (docs/DATA.md)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from kerasg2c.data import layout


def _touch_png(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)


def _write_root(root, files, meta=None):
    """Writes an (empty-image) PNG at each relative path and an optional dataset.json."""
    for rel in files:
        _touch_png(os.path.join(root, rel))
    os.makedirs(os.path.join(root, "labeled"), exist_ok=True)
    if meta is not None:
        with open(os.path.join(root, "dataset.json"), "w") as f:
            json.dump(meta, f)
    return str(root)


LABELED = [
    "labeled/train/noa/p1__a.png",
    "labeled/train/noa/p2__b.png",
    "labeled/train/gs/p1__c.png",
    "labeled/train/gs/lonely.png",
    "labeled/val/gs/p3__d.png",
]


@pytest.mark.parametrize(
    "path, patient",
    [
        ("p1__x.png", "p1"),
        ("/a/b/P-7__x__y.tif", "P-7"),
        ("single.png", "single"),
        ("__odd.png", "__odd"),
    ],
)
def test_patient_id(path, patient):
    assert layout.patient_id(path) == patient


def test_classes_from_dirs_and_defaults(tmp_path):
    root = _write_root(
        tmp_path, LABELED + ["reference/HE/r.png", "reference/PAS/r.png", "reference/MASSON/r.png"]
    )
    info = layout.read_dataset_info(root)
    assert info.classes == ("gs", "noa")
    assert info.source_stain == "PAS"
    assert info.stains == ("PAS", "HE", "MASSON")
    assert info.tasks == {}
    paths, labels, patients = layout.list_labeled(root, "train", info.classes)
    assert [os.path.relpath(p, root) for p in paths] == sorted(LABELED[:4])
    assert labels.dtype == np.int32 and labels.tolist() == [0, 0, 1, 1]
    assert patients == ["lonely", "p1", "p1", "p2"]


def test_classes_and_tasks_from_json(tmp_path):
    tasks = {"s_vs_noa": {"s": ["gs"], "noa": ["noa"]}}
    meta = {
        "source_stain": "HE",
        "stains": ["HE", "PAS"],
        "classes": ["noa", "gs"],
        "tasks": tasks,
        "extra": 1,
    }
    root = _write_root(tmp_path, LABELED, meta)
    info = layout.read_dataset_info(root)
    assert (info.source_stain, info.stains, info.classes, info.tasks) == (
        "HE",
        ("HE", "PAS"),
        ("noa", "gs"),
        tasks,
    )
    _, labels, _ = layout.list_labeled(root, "train", info.classes)
    assert labels.tolist() == [1, 1, 0, 0]


def test_task_with_unknown_class(tmp_path):
    root = _write_root(tmp_path, LABELED, {"tasks": {"t": {"x": ["ss"]}}})
    with pytest.raises(ValueError, match="unknown classes.*ss"):
        layout.read_dataset_info(root)


def test_unknown_class_dir(tmp_path):
    root = _write_root(
        tmp_path, LABELED + ["labeled/train/ss/p9__z.png"], {"classes": ["noa", "gs"]}
    )
    with pytest.raises(ValueError, match=r"labeled/train/ss.*'ss'.*known classes.*noa"):
        layout.list_labeled(root, "train", ("noa", "gs"))


def test_empty_and_missing_split(tmp_path):
    root = _write_root(tmp_path, LABELED)
    os.makedirs(tmp_path / "labeled" / "test" / "gs")
    with pytest.raises(ValueError, match=r"labeled/test: empty split"):
        layout.list_labeled(root, "test", ("gs", "noa"))
    os.rmdir(tmp_path / "labeled" / "test" / "gs")
    os.rmdir(tmp_path / "labeled" / "test")
    with pytest.raises(FileNotFoundError, match=r"labeled/test"):
        layout.list_labeled(root, "test", ("gs", "noa"))


def test_missing_root_labeled_and_bad_json(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere: data root does not exist"):
        layout.read_dataset_info(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="labeled"):
        layout.read_dataset_info(tmp_path)
    root = _write_root(tmp_path, LABELED)
    (tmp_path / "dataset.json").write_text("{'classes': oops")
    with pytest.raises(ValueError, match="dataset.json: not valid JSON"):
        layout.read_dataset_info(root)


def test_extensions_hidden_and_other_files(tmp_path):
    root = _write_root(
        tmp_path, ["labeled/train/a/x.PNG", "labeled/train/a/y.JpEg", "labeled/train/a/z.tiff"]
    )
    (tmp_path / "labeled/train/a/notes.txt").write_text("hi")
    (tmp_path / "labeled/train/a/._x.png").write_bytes(b"\0\5")
    paths, _, _ = layout.list_labeled(root, "train", ("a",))
    assert [os.path.basename(p) for p in paths] == ["x.PNG", "y.JpEg", "z.tiff"]


def test_reference(tmp_path):
    root = _write_root(tmp_path, ["reference/HE/b.png", "reference/HE/a.jpg"])
    assert [os.path.basename(p) for p in layout.list_reference(root, "HE")] == ["a.jpg", "b.png"]
    with pytest.raises(FileNotFoundError, match="reference/PASM"):
        layout.list_reference(root, "PASM")


def test_paired_aligned_with_labeled(tmp_path):
    paired = [p.replace("labeled/", "paired/HE/") for p in LABELED]
    root = _write_root(tmp_path, LABELED + paired + ["paired/HE/train/gs/extra.png"])
    classes = ("gs", "noa")
    labeled_paths, labels, patients = layout.list_labeled(root, "train", classes)
    paired_paths, paired_labels, paired_patients = layout.list_paired(root, "HE", "train", classes)
    assert [p.replace("/paired/HE/", "/labeled/") for p in paired_paths] == labeled_paths
    assert paired_labels.tolist() == labels.tolist() and paired_patients == patients
    os.remove(tmp_path / "paired/HE/train/noa/p2__b.png")
    with pytest.raises(FileNotFoundError, match=r"paired/HE/train/noa/p2__b.png.*1 of 4 missing"):
        layout.list_paired(root, "HE", "train", classes)
