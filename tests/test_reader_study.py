"""The HistoGAN paper's reader study (§4.3.1) on a phantom run folder: before- and
after-selection subgroups hidden behind neutral names, and a reader's answers scored."""

import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from kerasg2c.augment import reader_study

BEFORE_VALUE, AFTER_VALUE = 40, 200  # each arm's images have their own grey level


@pytest.fixture
def run(tmp_path):
    """A HistoGAN workdir's augmented/{unselected,selective} with 60 synthetic images
    each over two classes; 10 images are in both (selected from the first ones)."""
    workdir = tmp_path / "run"
    for arm, value, indices in (
        ("unselected", BEFORE_VALUE, range(60)),
        ("selective", AFTER_VALUE, range(50, 110)),
    ):
        for j in indices:
            name = f"c{j % 2}"
            folder = workdir / "augmented" / arm / "labeled" / "train" / name
            folder.mkdir(parents=True, exist_ok=True)
            pixels = np.full((8, 8, 3), value if j < 50 or arm == "selective" else 0, np.uint8)
            Image.fromarray(pixels).save(folder / f"synthetic-{name}__{j:05d}.png")
    return str(workdir)


def _answers(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["group", "choice"], *rows])


def test_make_hides_the_key_and_score_counts_the_paper_way(run, tmp_path):
    out = str(tmp_path / "study")
    key = reader_study.make(run, out, groups=10, per_group=5, seed=1)
    names = sorted(os.listdir(os.path.join(out, "images")))
    assert len(names) == 100 and names[0] == "g01-A-1.png" and names[-1] == "g10-B-5.png"
    letters = [g["after_selection"] for g in key["groups"].values()]
    assert set(letters) == {"A", "B"}  # drawn per group: names and order do not tell
    mtimes = {os.path.getmtime(os.path.join(out, "images", n)) for n in names}
    assert len(mtimes) == 1
    for group, entry in key["groups"].items():
        for letter in ("A", "B"):
            want = AFTER_VALUE if letter == entry["after_selection"] else BEFORE_VALUE
            for i in range(1, 6):
                with Image.open(os.path.join(out, "images", f"{group}-{letter}-{i}.png")) as im:
                    assert not im.info  # no metadata
                    assert np.asarray(im).max() == want  # the key says which arm it is
    assert os.path.exists(os.path.join(out, "sheets", "g01.png"))
    assert json.load(open(os.path.join(out, "key.json"))) == key
    # The paper's outcome: after selection 7 times, a tie twice, before selection once.
    groups = list(key["groups"])
    after = {g: key["groups"][g]["after_selection"] for g in groups}
    flip = {"A": "B", "B": "A"}
    rows = [[g, after[g]] for g in groups[:7]] + [[g, "tie"] for g in groups[7:9]]
    rows.append([groups[9], flip[after[groups[9]]].lower()])
    answers = str(tmp_path / "answers.csv")
    _answers(answers, rows)
    code = reader_study.main(["score", f"--key={out}/key.json", f"--answers={answers}"])
    assert code == 0
    scores = json.load(open(str(tmp_path / "answers.scores.json")))
    assert (scores["after_selection_preferred"], scores["tie"]) == (7, 2)
    assert scores["before_selection_preferred"] == 1 and scores["after_selection_rate"] == 0.7
    assert scores["sign_test_p"] == pytest.approx(2 * 9 / 256)  # 7 of 8 untied, two-sided


def test_bad_input_is_one_line_and_exit_2(run, tmp_path, capsys):
    out = str(tmp_path / "study")
    assert reader_study.main(["make", f"--workdir={run}", f"--out={out}", "--groups=2"]) == 0
    answers = str(tmp_path / "answers.csv")
    cases = [
        (["score", f"--key={out}/nokey.json", f"--answers={answers}"], "nokey.json"),
        (["score", f"--key={out}/key.json", f"--answers={answers}"], "no such file"),
        (["make", f"--workdir={tmp_path}", f"--out={out}"], "augmented"),
        (["make", f"--workdir={run}", f"--out={out}", "--groups=20"], "need groups"),
    ]
    for argv, message in cases:
        assert reader_study.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err
    for rows, message in (
        ([["g01", "A"], ["g07", "B"]], "unknown group 'g07'"),
        ([["g01", "A"], ["g02", "maybe"]], "choice 'MAYBE'"),
        ([["g01", "A"]], "no answer for group(s) g02"),
    ):
        _answers(answers, rows)
        assert reader_study.main(["score", f"--key={out}/key.json", f"--answers={answers}"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err
