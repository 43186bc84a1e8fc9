"""The HistoGAN selection map (`python -m trainers.histogan_map`) on a 2-cell grid at tiny
size: its table and figure, a resumed rerun, and its stage runs' held-out candidates (real
patches of the patients left out, a known share from the other classes)."""

import csv
import json

import numpy as np
from conftest import prefetched, run_python
from PIL import Image

from kerasg2c.data import pipeline

WIDTHS = ["model.widths=8,16", "model.blocks_per_unit=1", "model.stem_width=8"]
MAP_FLAGS = [
    "--premise=histogan.off_class_share=0,0.5",
    "--budget=data.max_train_patients=3",
    "--arms=traditional,selective",
    "--seeds=0",
    *(
        f"--set={s}"
        for s in (
            "data.phantoms.n_train=96", "data.phantoms.n_val=8", "data.phantoms.n_test=8",
            "data.phantoms.n_reference=2", "feature_extractor.train.epochs=1",
            *(f"feature_extractor.{w}" for w in WIDTHS),
        )
    ),
    *(f"--classifier_set={s}" for s in ("train.epochs=1", *WIDTHS)),
    "--parallel=2",
]  # fmt: skip
STAGE = "stages/histogan.off_class_share-{}__data.max_train_patients-3__seed-0"


@prefetched()
def map_run(tmp_path_factory):
    """The command on 2 premise levels × 1 budget × 2 arms × 1 seed, then again."""
    out = tmp_path_factory.mktemp("histogan_map") / "map"
    args = ["-m", "trainers.histogan_map", f"--out={out}", *MAP_FLAGS]
    first = run_python(args)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-4000:]
    return out, first, run_python(args)


def test_the_map_command_writes_its_table_and_figure(map_run):
    out, first, second = map_run
    assert first.stdout.count("... running") == 6  # 2 stages, then 2 arms each
    assert second.returncode == 0 and second.stdout.count("skip (done)") == 6
    with open(out / "map.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["histogan.off_class_share"], r["arm"]) for r in rows} == {
        (share, arm) for share in ("0", "0.5") for arm in ("traditional", "selective")
    }
    table = (out / "map.md").read_text()
    assert "against the control arm `traditional`" in table
    assert "| selective | 0.5 | 3 | 1 | " in table
    assert "| 0 | 3 | 0.000 | 0.000 | 0.000 | 0.000 | 0.000 |" in table  # the control level
    assert "| 0.5 | 3 | 0.500 |" in table
    assert Image.open(out / "map.png").size[0] > 300


def test_the_candidates_are_held_out_patches_with_the_known_off_class_share(map_run):
    out = map_run[0]
    stage = out / STAGE.format("0.5")
    report = json.loads((stage / "report.json").read_text())
    assert report["synthetic_source"] == "held_out" and "chosen_epoch" not in report  # no GAN
    whole = pipeline.load_labeled_split(stage / "data", "train")
    drawn = set(pipeline.load_labeled_split(report["selection"]["roots"]["real"], "train").patients)
    patches = {}
    for path, label, patient in zip(whole.paths, whole.labels, whole.patients):
        patches[np.asarray(Image.open(path).convert("RGB")).tobytes()] = (label, patient)
    classes = report["classes"]
    kept = report["metrics"]["off_class_kept"]
    assert kept["candidates"] == 0.5
    for arm in ("unselected", "selective"):
        train = pipeline.load_labeled_split(report["selection"]["roots"][arm], "train")
        off = []
        for path, label in zip(train.paths, train.labels):
            if "synthetic-" not in path:
                continue
            source_label, patient = patches[np.asarray(Image.open(path).convert("RGB")).tobytes()]
            assert patient not in drawn  # a held-out patient's patch, byte for byte
            off.append(source_label != label)
        assert off and np.mean(off) == kept[arm], (arm, classes)
