"""A user's own files that cannot be used end in one line naming the file, exit 2, no
traceback: `python -m kerasg2c.tools.translate` given a model that is not a slide generator, and
a trainer's `--config=` that is missing, does not parse or whose `get_config` fails
(`launch.check_config_file`; `config_files.load` names the file and line too)."""

import concurrent.futures

import pytest
import tensorflow as tf
from conftest import run_python

from kerasg2c.errors import MissingPathError, UserError
from kerasg2c.jobs import config_files, launch
from kerasg2c.models import Classifier, ResnetGenerator

BROKEN = "import ml_collections\n\n\ndef get_config(:\n    return None\n"


def _one_error_line(proc, *names):
    """Exit 2 and a last stderr line `error: ...` naming each of `names`, no traceback."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), proc.stderr[-3000:]
    for name in names:
        assert name in last, last
    return last


@pytest.fixture(scope="module")
def broken_configs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("configs")
    (folder / "broken.py").write_text(BROKEN)
    (folder / "raises.py").write_text("def get_config():\n    return 1 / 0\n")
    (folder / "extends.py").write_text(  # loads a broken sibling
        "from kerasg2c.jobs.config_files import load_module\n\n\n"
        "def get_config():\n"
        "    return load_module('broken.py', relative_to=__file__).get_config()\n"
    )
    return folder


def test_config_files_load_names_the_file_and_line_of_a_syntax_error(broken_configs):
    with pytest.raises(UserError, match=r"broken\.py:4: not a valid config file: "):
        config_files.load(str(broken_configs / "broken.py"))
    with pytest.raises(UserError, match=r"broken\.py:4: "):  # the sibling, not extends.py
        config_files.load(str(broken_configs / "extends.py"))
    with pytest.raises(MissingPathError, match="nowhere.py: no such config file"):
        config_files.load(str(broken_configs / "nowhere.py"))
    with pytest.raises(UserError, match=r"raises\.py: get_config\(\) fails: ZeroDivisionError"):
        launch.check_config_file(str(broken_configs / "raises.py"))
    launch.check_config_file("configs/classifier.py")  # a good one passes


def test_config_argument_reads_both_flag_forms():
    argv = ["prog", "--config=a.py", "--config.train.epochs=3"]
    assert launch.config_argument("config", argv) == "a.py"
    assert launch.config_argument("config", ["prog", "--config", "b.py:x"]) == "b.py:x"
    assert launch.config_argument("config", ["prog", "--config.seed=1"]) is None


def test_cli_refuses_bad_config_files_and_non_generators_in_one_line(broken_configs, tmp_path):
    classifier = Classifier(2, widths=(4, 8), blocks_per_unit=1, stem_width=4)
    classifier(tf.zeros((1, 32, 32, 3)))
    classifier.save(tmp_path / "model.keras")
    conditional = ResnetGenerator(ngf=4, n_blocks=1)
    conditional(tf.zeros((1, 32, 32, 3 + 2)))  # RGB + 2 class channels
    conditional.save(tmp_path / "conditional.keras")
    translate = [
        "-m",
        "kerasg2c.tools.translate",
        "--input=slide.tif",
        f"--output={tmp_path}/o.tif",
    ]
    cases = {
        "missing": ["-m", "trainers.classifier", f"--config={tmp_path}/nowhere.py"],
        "syntax": ["-m", "trainers.histogan", f"--config={broken_configs}/broken.py"],
        "raises": ["-m", "trainers.cyclegan", f"--config={broken_configs}/raises.py"],
        "augment_eval": ["-m", "trainers.augment_eval", f"--config={broken_configs}/broken.py"],
        "classifier": [*translate, f"--generator={tmp_path}/model.keras"],
        "conditional": [*translate, f"--generator={tmp_path}/conditional.keras"],
    }
    with concurrent.futures.ThreadPoolExecutor(3) as pool:  # TensorFlow start-ups side by side
        procs = dict(zip(cases, pool.map(run_python, cases.values())))
    _one_error_line(procs["missing"], f"{tmp_path}/nowhere.py", "no such config file")
    _one_error_line(procs["syntax"], f"{broken_configs}/broken.py:4", "not a valid config")
    _one_error_line(procs["raises"], "raises.py", "ZeroDivisionError")
    _one_error_line(procs["augment_eval"], "broken.py:4", "not a valid config")
    _one_error_line(procs["classifier"], f"--generator={tmp_path}/model.keras", "a Classifier")
    _one_error_line(procs["conditional"], "conditional.keras", "class-conditional")
