"""`python -m trainers.g2c` end to end on tiny phantoms with tiny generators."""

import csv
import json
import os
import shutil

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    REPO,
    export_tiny_generators,
    export_tiny_generators_apart,
    prefetched,
    run_python,
    tiny_flags,
    trainer_args,
)

from kerasg2c.evaluation import prediction_table
from kerasg2c.jobs import classifier_job, config_files, cyclegan_job, g2c_job

TINY = [
    *tiny_flags(),
    "--config.train.epochs=3",
    "--config.g2c.freeze_generators_epochs=1",
]


@pytest.fixture(scope="module")
def generators_dir(tmp_path_factory):
    """Generators exported the way the CycleGAN stage does (all named generator_ab)."""
    return export_tiny_generators(tmp_path_factory.mktemp("generators"))


def command(workdir, generators_dir, *extra):
    return trainer_args(
        "g2c", workdir, f"--config.g2c.generators_dir={generators_dir}", *TINY, *extra
    )


@prefetched()
def pas_all_plus_run(tmp_path_factory):
    # Generators of its own, exported apart (this may run on the prefetch thread).
    generators = export_tiny_generators_apart(tmp_path_factory.mktemp("generators"))
    workdir = tmp_path_factory.mktemp("pas_all_plus")
    proc = run_python(command(workdir, generators))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


def test_pas_all_plus_trains_and_reports(pas_all_plus_run):
    tmp_path = pas_all_plus_run
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["trainer"] == "g2c" and report["variant"] == "PAS_ALL_PLUS"
    assert report["stains"] == ["HE", "MASSON", "PASM"]
    params = report["parameters"]
    assert params["generators"] > 0 and params["attention"] > 0
    assert [row["epoch"] for row in report["history"]] == [1, 2, 3]
    assert report["metrics"]["test"]["n"] == 8
    # Table 4's gap is of category-averaged accuracy; plain accuracy's has its own key.
    train, test = report["metrics"]["train"], report["metrics"]["test"]
    gap = train["balanced_accuracy"] - test["balanced_accuracy"]
    assert report["train_test_gap"] == pytest.approx(gap)
    accuracy_gap = train["accuracy"] - test["accuracy"]
    assert report["train_test_accuracy_gap"] == pytest.approx(accuracy_gap)
    # A PAS_ALL+ run ends with its stain attention per class (kerasg2c.tools.stain_attention).
    assert [row["class"] for row in report["stain_attention"]["rows"]] == report["classes"]
    assert "stain_attention.png" in report["figures"]
    assert (tmp_path / "stain_attention.png").exists()
    assert (tmp_path / "model.weights.h5").exists()
    # model.keras is the whole end-to-end model: it reproduces the run's test predictions.
    model = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    rows = prediction_table.read_predictions(tmp_path / "predictions_test.csv")
    first = sorted(rows)[:4]
    images = np.stack([_image(p) for p in first])
    probabilities = keras.ops.softmax(model(images, training=False)).numpy()
    expected = [[float(rows[p][c]) for c in report["classes"]] for p in first]
    np.testing.assert_allclose(probabilities, expected, atol=1e-4)


def test_stain_attention_tool_tables_each_class_of_the_run(pas_all_plus_run):
    run = pas_all_plus_run
    proc = run_python(["-m", "kerasg2c.tools.stain_attention", f"--workdir={run}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((run / "report.json").read_text())
    table = json.loads((run / "stain_attention.json").read_text())
    assert table["stains"] == ["PAS", "HE", "MASSON", "PASM"]
    assert [row["class"] for row in table["rows"]] == report["classes"]
    with open(run / "predictions_test.csv", newline="") as f:
        labels = [row["label"] for row in csv.DictReader(f)]
    assert [row["patches"] for row in table["rows"]] == [labels.count(c) for c in report["classes"]]
    for row in table["rows"]:
        if row["patches"]:
            assert sum(row["mean_share"]) == pytest.approx(1.0)
            assert all(0 < g < 1 for g in row["mean_gate"])
    assert plt.imread(run / "stain_attention.png").shape[-1] in (3, 4)
    # The per-class means are those of the model's own gates on the class's patches.
    model = keras.saving.load_model(run / "model.keras", compile=False)
    rows = prediction_table.read_predictions(run / "predictions_test.csv")
    first = next(c for c in report["classes"] if labels.count(c))
    mine = [p for p in sorted(rows) if rows[p]["label"] == first]
    gates = model.stain_attention(np.stack([_image(p) for p in mine])).numpy()
    row = table["rows"][report["classes"].index(first)]
    np.testing.assert_allclose(gates.mean(axis=(0, 2)), row["mean_gate"], rtol=1e-4)


def test_stain_attention_tool_refuses_a_run_without_attention(tmp_path):
    (tmp_path / "report.json").write_text(
        json.dumps({"trainer": "g2c", "variant": "PAS_ALL", "metrics": {}})
    )
    proc = run_python(["-m", "kerasg2c.tools.stain_attention", f"--workdir={tmp_path}"])
    assert proc.returncode == 2 and "PAS_ALL_PLUS" in proc.stderr


def _image(path, size=32):
    image = tf.image.decode_png(tf.io.read_file(str(path)), channels=3)
    return tf.image.resize(tf.cast(image, tf.float32) / 255.0, (size, size)).numpy()


def test_compare_figure_shows_rescued_patches_with_generated_stains(tmp_path, pas_all_plus_run):
    """Run A = run B with every test prediction made wrong, so every patch B gets right
    is 'rescued'; the figure has one row per such patch: input + 3 generated stains."""
    run_a = tmp_path / "a"
    run_a.mkdir()
    shutil.copy(pas_all_plus_run / "report.json", run_a / "report.json")
    with open(pas_all_plus_run / "predictions_test.csv") as f:
        rows = list(csv.DictReader(f))
    classes = json.loads((run_a / "report.json").read_text())["classes"]
    with open(run_a / "predictions_test.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            wrong = classes[(classes.index(row["label"]) + 1) % len(classes)]
            writer.writerow({**row, "predicted": wrong})
    right = sum(r["predicted"] == r["label"] for r in rows)
    out = tmp_path / "figure3.png"
    proc = run_python(
        [
            "-m",
            "kerasg2c.tools.compare",
            str(run_a),
            str(pas_all_plus_run),
            f"--figure={out}",
            "--figure_rows=3",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{right} patches A gets wrong and B gets right" in proc.stdout
    assert right > 0  # any model gets one class right
    height, width = plt.imread(out).shape[:2]
    assert (width, height) == (4 * 160, min(right, 3) * 180)  # 1 + 3 stains per row


def test_unknown_variant_names_the_key(tmp_path, generators_dir):
    proc = run_python(command(tmp_path, generators_dir, "--config.variant=PAS_KI67"))
    assert proc.returncode != 0 and "config key variant='PAS_KI67'" in proc.stderr


def test_missing_generators_name_the_key(tmp_path):
    proc = run_python(command(tmp_path, tmp_path / "none", "--config.variant=PAS_HE"))
    assert proc.returncode != 0 and "config key g2c.generators_dir" in proc.stderr


def without_generators_command(workdir):
    stage = [
        "--config.cyclegan_stage.model.ngf=4",
        "--config.cyclegan_stage.model.n_blocks=1",
        "--config.cyclegan_stage.model.ndf=4",
        "--config.cyclegan_stage.cyclegan.n_unlabeled=8",
        "--config.cyclegan_stage.train.epochs=1",
        "--config.cyclegan_stage.cyclegan.identity_warmup_epochs=1",
        "--config.cyclegan_stage.optimizer.constant_epochs=1",
        "--config.cyclegan_stage.optimizer.decay_epochs=0",
    ]
    return trainer_args(
        "g2c",
        workdir,
        "--config.variant=PAS_HE",
        "--config.data.phantoms.n_reference=8",  # the stage's unpaired patches
        *[flag for flag in TINY if "n_reference" not in flag],
        *stage,
    )


@prefetched()
def run_without_generators(tmp_path_factory):
    """(workdir, process) of a PAS_HE run given no generators (its CycleGAN stage first)."""
    workdir = tmp_path_factory.mktemp("without_generators")
    return workdir, run_python(without_generators_command(workdir))


def test_without_generators_the_cyclegan_stage_runs_first(run_without_generators):
    tmp_path, proc = run_without_generators
    cmd = without_generators_command(tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "cyclegan" / "generators" / "HE.keras").exists()
    assert not (tmp_path / "cyclegan" / "data").exists()  # one phantom set, shared
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["variant"] == "PAS_HE" and report["parameters"]["generators"] > 0
    cyclegan_report = json.loads((tmp_path / "cyclegan" / "report.json").read_text())
    assert list(cyclegan_report["stains"]) == ["HE"]
    # A rerun finds the generators and does not train the stage again.
    again = run_python(cmd)
    assert again.returncode == 0 and "training PAS_to_HE" not in again.stderr


@prefetched()
def transfer_run(tmp_path_factory):
    """(workdir, process, generators folder) of a configs/g2c_transfer.py run."""
    generators_dir = export_tiny_generators_apart(tmp_path_factory.mktemp("generators"))
    tmp_path = tmp_path_factory.mktemp("transfer")
    cmd = [
        "-m",
        "trainers.g2c",
        "--config=configs/g2c_transfer.py",
        f"--config.workdir={tmp_path}",
        f"--config.g2c.generators_dir={generators_dir}",
        *[flag for flag in TINY if "model.widths" not in flag],  # a repeated tuple flag appends
        "--config.model.widths=(8,8,8,8)",
    ]
    return tmp_path, run_python(cmd), generators_dir


def test_transfer_config_fine_tunes_reused_generators_with_an_alexnet_branch(transfer_run):
    tmp_path, proc, generators_dir = transfer_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["variant"] == "PAS_ALL_PLUS" and report["task"] == "s_vs_noa"
    assert report["classes"] == ["s", "noa"] and report["parameters"]["attention"] > 0
    model = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert model.branch == "alexnet"
    # Reused, then fine-tuned after the frozen epoch: the generators moved away from the
    # exported weights.
    exported = keras.saving.load_model(generators_dir / "HE.keras")
    moved = [
        float(np.max(np.abs(a - b)))
        for a, b in zip(model.generators[0].get_weights(), exported.get_weights())
    ]
    assert max(moved) > 1e-6


@pytest.mark.parametrize(
    "name, variant, blocks, upsampling",
    [
        ("g2c_paper_arxiv", "PAS_ALL", 9, "deconv3"),
        ("g2c_paper_aaai", "PAS_ALL_PLUS", 6, "deconv4"),
        ("g2c_paper_breast", "PAS_ALL_PLUS", 6, "deconv4"),
    ],
)
def test_paper_config_checks_and_builds_at_a_tiny_size(name, variant, blocks, upsampling, tmp_path):
    config = config_files.load(os.path.join(REPO, "configs", f"{name}.py"))
    assert (config.variant, config.optimizer.learning_rate, config.train.epochs) == (
        variant,
        0.01,
        30,
    )
    assert config.g2c.generator_learning_rate == 0.01
    stage = config.cyclegan_stage
    assert (stage.model.n_blocks, stage.model.upsampling, stage.model.ngf) == (
        blocks,
        upsampling,
        64,
    )
    if config.g2c.generators_dir:  # the transfer reuses generators trained before
        config.g2c.generators_dir = str(export_tiny_generators(tmp_path))
    g2c_job.check(config)
    # Built at 32 px with the paper's generator architecture at width 4 and a tiny branch.
    stage.model.ngf = 4
    folder = tmp_path / "paper_generators"
    folder.mkdir()
    for stain in g2c_job.variant_stains(config):
        generator = cyclegan_job.make_generator(stage.model, "generator_ab")
        generator(tf.zeros((1, 32, 32, 3)))
        generator.save(folder / f"{stain}.keras")
    config.g2c.generators_dir = str(folder)
    config.data.image_size = 32
    alexnet = config.model.branch == "alexnet"
    config.model.widths = (8, 8, 8, 8) if alexnet else (8, 16)
    config.model.stem_width, config.model.blocks_per_unit = 8, 1
    model = g2c_job.build_model(config, num_classes=2, steps_per_epoch=1)
    assert [g.n_blocks for g in model.generators] == [blocks] * 3
    assert {g.upsampling for g in model.generators} == {upsampling}
    assert bool(model.attention) == (variant == "PAS_ALL_PLUS")
    assert model(tf.zeros((2, 32, 32, 3)), training=False).shape == (2, 2)


def test_classifier_paper_config_is_the_pas_only_baseline_of_the_g2c_paper_configs():
    baseline = config_files.load(os.path.join(REPO, "configs", "classifier_paper.py"))
    g2c = config_files.load(os.path.join(REPO, "configs", "g2c_paper_aaai.py"))
    shared = ["data.image_size", "model.widths", "model.stem_width", "model.blocks_per_unit"]
    shared += ["model.loss", "optimizer.learning_rate", "optimizer.decay_every_epochs"]
    shared += ["optimizer.momentum", "train.epochs", "train.batch_size", "hierarchy"]
    shared += ["train.precise_bn_batches"]

    def value(config, key):
        for part in key.split("."):
            config = config[part]
        return config

    assert {k: value(baseline, k) for k in shared} == {k: value(g2c, k) for k in shared}
    assert baseline.data.augment  # the AAAI paper augments PAS_ONLY only
    classifier_job.check(baseline)
    baseline.data.image_size, baseline.model.widths, baseline.model.stem_width = 32, (8, 16), 8
    model = classifier_job.build_model(baseline, num_classes=2, steps_per_epoch=1)
    assert model(tf.zeros((2, 32, 32, 3)), training=False).shape == (2, 2)
