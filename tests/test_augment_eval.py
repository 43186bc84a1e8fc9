"""HistoGAN's comparison (`python -m trainers.augment_eval`): the arms read from a HistoGAN
run, the sweep grid, refused runs, and the command line on a fake HistoGAN run folder with
tests/workers/fake_trainer.py (a report at once; no TensorFlow)."""

import json
import os

import pytest
from conftest import REPO, run_python

from kerasg2c.errors import UserError
from kerasg2c.jobs import augment_eval_job, config_files

CLASSIFIER_CONFIG = os.path.join(REPO, "configs", "classifier.py")


def fake_histogan_run(folder, data_root="", report=None) -> str:
    """A HistoGAN run folder: report.json with selection.roots, config.json, and tiny
    DATA_ROOTs (the phantoms at data/ when `data_root` is empty)."""
    run = str(folder)
    roots = {arm: os.path.join(run, "augmented", arm) for arm in augment_eval_job.GAN_ARMS}
    for root in [*roots.values(), data_root or os.path.join(run, "data")]:
        os.makedirs(os.path.join(root, "labeled", "train", "noa"), exist_ok=True)
        with open(os.path.join(root, "dataset.json"), "w") as f:
            json.dump({"classes": ["noa", "ss", "gs"]}, f)
    if report is None:
        report = {"trainer": "histogan", "selection": {"per_class": {}, "roots": roots}}
    with open(os.path.join(run, "report.json"), "w") as f:
        json.dump(report, f)
    with open(os.path.join(run, "config.json"), "w") as f:
        json.dump({"workdir": run, "data": {"root": data_root, "max_train_patients": 0}}, f)
    return run


def config(**overrides):
    c = config_files.load(os.path.join(REPO, "configs", "augment_eval.py"))
    c.classifier_config = CLASSIFIER_CONFIG
    c.update(overrides)
    return c


def test_arms_pair_each_data_root_with_augmentation(tmp_path):
    run = fake_histogan_run(tmp_path / "histogan")
    arms = augment_eval_job.arms(run)
    phantoms = os.path.join(run, "data")
    assert [tuple(a) for a in arms] == [
        ("baseline", phantoms, False),
        ("traditional", phantoms, True),
        *((a, os.path.join(run, "augmented", a), True) for a in augment_eval_job.GAN_ARMS),
    ]
    assert [a.name for a in arms] == list(augment_eval_job.ARMS)
    assert arms[0].value == f"{phantoms}:False"
    # A run given a data.root: the baseline arms train on it.
    given = str(tmp_path / "data_root")
    other = fake_histogan_run(tmp_path / "histogan2", data_root=given)
    assert [a.root for a in augment_eval_job.arms(other)[:2]] == [given, given]


def test_a_tfds_run_baselines_on_the_examples_it_wrote(tmp_path):
    # A data.tfds run on a subset writes exactly those examples into tfds_data/, so the
    # baseline arms may use it although max_train_patients is set.
    written = str(tmp_path / "histogan" / "tfds_data")
    run = fake_histogan_run(tmp_path / "histogan", data_root=written)
    with open(os.path.join(run, "config.json"), "w") as f:
        json.dump({"data": {"root": "", "tfds": "patch_camelyon", "max_train_patients": 4}}, f)
    assert [a.root for a in augment_eval_job.arms(run)[:2]] == [written, written]
    os.rename(written, os.path.join(run, "elsewhere"))
    with pytest.raises(UserError, match="data.tfds='patch_camelyon': no .*tfds_data"):
        augment_eval_job.arms(run)


def test_the_grid_has_every_arm_at_every_seed(tmp_path):
    run = fake_histogan_run(tmp_path / "histogan")
    arms = augment_eval_job.arms(run)
    grid = augment_eval_job.make_grid(
        config(histogan_run=run, seeds="0,1,2,3,4", sets=("train.epochs=3",)), arms
    )
    assert grid.trainer == "trainers.classifier" and grid.config == CLASSIFIER_CONFIG
    cells = grid.cells()
    assert len(cells) == 6 * 5
    assert [c.variant for c in cells[:6]] == [((augment_eval_job.KEY, a.value),) for a in arms]
    assert [c.seed for c in cells] == [s for s in range(5) for _ in range(6)]
    args = grid.trainer_args(cells[0], "w")
    assert args[-3:] == [
        f"--config.data.root={os.path.join(run, 'data')}",
        "--config.data.augment=False",
        "--config.train.epochs=3",
    ]
    assert grid.trainer_args(cells[5], "w")[-3:-1] == [
        f"--config.data.root={os.path.join(run, 'augmented', 'selective')}",
        "--config.data.augment=True",
    ]
    assert augment_eval_job.baseline(arms) == (augment_eval_job.KEY, arms[2].value)  # unselected
    assert len({c.name for c in cells}) == 30


def test_bad_runs_and_keys_are_refused_naming_them(tmp_path):
    def refused(run, **overrides):
        with pytest.raises(UserError) as e:
            augment_eval_job.make_grid(
                config(histogan_run=run, **overrides), augment_eval_job.arms(run)
            )
        return str(e.value)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert refused(str(empty)).startswith(f"config key histogan_run: no report.json in {empty}")
    report = os.path.join(tmp_path / "no_roots", "report.json")
    os.makedirs(os.path.dirname(report))
    no_roots = fake_histogan_run(tmp_path / "no_roots", report={"trainer": "histogan"})
    assert refused(no_roots).startswith(f"{report}: no selection.roots")
    partial = fake_histogan_run(
        tmp_path / "partial", report={"selection": {"roots": {"unselected": str(tmp_path)}}}
    )
    assert "selection.roots has no ['entropy_only', 'centroid_only', 'selective']" in (
        refused(partial)
    )
    run = fake_histogan_run(tmp_path / "histogan")
    os.rename(os.path.join(run, "data"), os.path.join(run, "elsewhere"))
    assert "the run's DATA_ROOT" in refused(run) and "is not a folder" in refused(run)
    os.rename(os.path.join(run, "elsewhere"), os.path.join(run, "data"))
    assert refused(run, seeds="0,x").startswith("config key seeds: expected integers")
    assert refused(run, sets=("seed=3",)).startswith("config key sets: the sweep sets seed")
    assert refused(run, split="dev").startswith("config key split: expected one of")
    assert refused(run, parallel=0).startswith("config key parallel:")
    assert refused(run, classifier_config=str(tmp_path / "nope.py")).startswith(
        "config key classifier_config: no such file"
    )


def test_the_command_line_runs_summarises_and_resumes(tmp_path):
    run = fake_histogan_run(tmp_path / "histogan")
    out = tmp_path / "eval"
    env = {"PYTHONPATH": "tests"}  # the fake as module workers.fake_trainer
    args = [
        "-m",
        "trainers.augment_eval",
        f"--config.histogan_run={run}",
        f"--config.out={out}",
        "--config.seeds=0,1",
        "--config.trainer=workers.fake_trainer",
        "--config.sets=train.epochs=1",
        "--config.parallel=3",
    ]
    proc = run_python(args, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count(" ... done in ") == 12
    for name in ("sweep.json", "summary.md", "summary.json", "accuracy.png"):
        assert (out / name).is_file(), name
    lines = proc.stdout.splitlines()[-6:]
    assert [line.split(":")[0] for line in lines] == list(augment_eval_job.ARMS)
    assert lines[2].endswith(
        "the arm the others are compared to (paired per-patient t-test, row − unselected)"
    )
    # The fake trainer ignores data.root: equal accuracies, so constant differences.
    assert (
        lines[5].startswith("selective: accuracy ")
        and "(n=2); vs unselected: per-patient t" in (lines[5])
    )

    summary = json.loads((out / "summary.json").read_text())
    assert [a["name"] for a in summary["arms"]] == list(augment_eval_job.ARMS)
    unselected = f"{augment_eval_job.KEY}={os.path.join(run, 'augmented', 'unselected')}:True"
    assert [r["baseline"] for r in summary["rows"]] == [
        unselected,
        unselected,
        None,
        unselected,
        unselected,
        unselected,
    ]
    selective = summary["rows"][5]["t_test"]
    assert selective["n"] == 2 * 6 and selective["seeds"] == [0, 1]  # (seed, patient) pairs
    assert summary["metrics"]["accuracy"][0]["n"] == 2
    assert "| selective | " in (out / "summary.md").read_text()
    baseline_calls = next(out.glob("*data_False__seed-0")) / "calls.txt"
    called = baseline_calls.read_text()
    assert "--config.data.augment=False" in called and "--config=configs/classifier.py" in called

    again = run_python(args, env=env, timeout=180)
    assert again.returncode == 0 and again.stdout.count("skip (done)") == 12, again.stderr

    bad = run_python([*args[:2], f"--config.histogan_run={tmp_path}", *args[3:]], env=env)
    assert bad.returncode == 2
    assert (
        bad.stderr == f"error: config key histogan_run: no report.json in {tmp_path} (run "
        "python -m trainers.histogan into it first)\n"
    )


def test_the_paper_comparison_trains_a_resnet34_with_cross_entropy_on_every_arm(tmp_path):
    from kerasg2c.jobs import classifier_job  # TensorFlow: only this test needs it

    paper = config_files.load(os.path.join(REPO, "configs", "augment_eval_paper.py"))
    run = fake_histogan_run(tmp_path / "histogan")
    paper.histogan_run = run
    paper.classifier_config = os.path.join(REPO, paper.classifier_config)
    grid = augment_eval_job.make_grid(paper, augment_eval_job.arms(run))
    assert grid.trainer == "trainers.classifier" and len(grid.cells()) == 6 * 5
    classifier = config_files.load(paper.classifier_config)
    classifier.data.root = str(tmp_path)
    classifier_job.check(classifier)
    m = classifier.model
    assert (m.loss, m.widths, m.blocks_per_unit) == (
        "cross_entropy",
        (64, 128, 256, 512),
        (3, 4, 6, 3),
    )
    assert (classifier.data.image_height, classifier.data.image_size) == (256, 128)
    m.widths, m.stem_width = (4, 4, 4, 4), 4  # narrow, to build it here
    model = classifier_job.build_model(classifier, num_classes=4, steps_per_epoch=1)
    assert len(model.backbone.blocks) == 16 and model.loss_name == "cross_entropy"
