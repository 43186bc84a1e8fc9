"""The HistoGAN paper's expert evaluation (§4.3.1): do readers prefer synthetic images after
selection to those before it?

The paper drew 100 synthetic images, half from before selection and half from after it,
split them into 10 groups of two subgroups of 5 (one of each), and asked two pathologists,
for each group, which subgroup has better quality, or a tie, without telling them which is
which; they chose the after-selection subgroup 7 times, a tie 2 times, the before-selection
one once. `make` builds such a study from a HistoGAN run, `score` scores a reader's answers.

    python -m kerasg2c.augment.reader_study make --workdir=runs/histogan --out=DIR
    python -m kerasg2c.augment.reader_study score --key=DIR/key.json --answers=DIR/answers.csv

`make` reads the run's `augmented/unselected` (before selection: a random draw of the
generated pool, the images also selected left out) and `augmented/selective` DATA_ROOTs and
writes DIR/images/g01-A-1.png, ... (group, subgroup A or B, position), re-encoded without
metadata and with one fixed modification time, DIR/sheets/g01.png (each group's subgroups
side by side, A above B), DIR/answers.csv to fill in (`group,choice` with choice A, B or
tie) and DIR/key.json, which says which letter is after selection; keep it from the
readers. Which letter is after selection is drawn per group, so names and file order do not
tell. `score` prints and writes (next to the answers, `<answers>.scores.json`) how often the
after-selection subgroup, a tie and the before-selection subgroup were chosen, and a
two-sided sign test over the groups without a tie. A bad file or answer is one line, exit 2.

Examples:

    kerasg2c reader-study make --workdir=runs/histogan --out=study
    kerasg2c reader-study score --key=study/key.json --answers=study/answers.csv
"""

import argparse
import csv
import glob
import json
import math
import os
import sys

import numpy as np
from PIL import Image

from kerasg2c.errors import MissingPathError, UserError

BEFORE, AFTER = "unselected", "selective"
CHOICES = ("A", "B", "tie")
_MTIME = 946684800  # 2000-01-01: every file the same, so times do not order them


def synthetic_files(workdir: str, arm: str) -> list[str]:
    """The synthetic PNGs of one arm's DATA_ROOT of a HistoGAN run, sorted."""
    root = os.path.join(workdir, "augmented", arm, "labeled", "train")
    if not os.path.isdir(root):
        raise MissingPathError(f"--workdir={workdir}: no {root} (run trainers.histogan first)")
    return sorted(glob.glob(os.path.join(root, "*", "synthetic-*.png")))


def make(workdir: str, out: str, groups: int = 10, per_group: int = 5, seed: int = 0) -> dict:
    """Writes the study into `out` (see the module docstring); returns the key.

    Args:
      workdir: a HistoGAN run folder with `augmented/unselected` and `augmented/selective`.
      out: the study folder to write (images/, sheets/, answers.csv, key.json).
      groups, per_group: groups, and images per subgroup (the paper: 10 and 5).
      seed: the seed of every draw.

    Examples:
      >>> key = make("runs/histogan", "study", groups=10, per_group=5)  # doctest: +SKIP
    """
    after = synthetic_files(workdir, AFTER)
    selected = {os.path.basename(p) for p in after}
    before = [p for p in synthetic_files(workdir, BEFORE) if os.path.basename(p) not in selected]
    need = groups * per_group
    for arm, files in ((BEFORE, before), (AFTER, after)):
        if len(files) < need:
            raise UserError(
                f"--workdir={workdir}: {len(files)} {arm} synthetic images, need "
                f"groups × per_group = {need}; use fewer --groups or --per_group"
            )
    rng = np.random.default_rng(seed)
    drawn = {
        arm: [files[i] for i in rng.permutation(len(files))[:need]]
        for arm, files in ((BEFORE, before), (AFTER, after))
    }
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    os.makedirs(os.path.join(out, "sheets"), exist_ok=True)
    key = {"design": "HistoGAN §4.3.1: before vs after selection", "seed": seed, "groups": {}}
    for g in range(groups):
        group = f"g{g + 1:02d}"
        after_letter = "A" if rng.random() < 0.5 else "B"
        sources = {
            after_letter: drawn[AFTER][g * per_group : (g + 1) * per_group],
            "B" if after_letter == "A" else "A": drawn[BEFORE][g * per_group : (g + 1) * per_group],
        }
        rows = {}
        for letter in ("A", "B"):
            rows[letter] = []
            for i, source in enumerate(sources[letter]):
                name = f"{group}-{letter}-{i + 1}.png"
                rows[letter].append(_write_clean(source, os.path.join(out, "images", name)))
        _sheet(rows, os.path.join(out, "sheets", f"{group}.png"))
        key["groups"][group] = {
            "after_selection": after_letter,
            "sources": {
                letter: [os.path.relpath(s, workdir) for s in sources[letter]]
                for letter in ("A", "B")
            },
        }
    with open(os.path.join(out, "answers.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["group", "choice"])
        writer.writerows([group, ""] for group in key["groups"])
    with open(os.path.join(out, "key.json"), "w") as f:
        json.dump(key, f, indent=2)
    return key


def _write_clean(source: str, path: str) -> np.ndarray:
    """Re-encodes `source` as a plain RGB PNG at `path` (no metadata, fixed time)."""
    with Image.open(source) as image:
        pixels = np.asarray(image.convert("RGB"))
    Image.fromarray(pixels).save(path)
    os.utime(path, (_MTIME, _MTIME))
    return pixels


def _sheet(rows: dict, path: str) -> None:
    """A above B, each subgroup's images in one row, 4 px white gaps."""
    a, b = (np.concatenate(_gapped(rows[k], axis=1), axis=1) for k in ("A", "B"))
    gap = np.full((4, a.shape[1], 3), 255, np.uint8)
    Image.fromarray(np.concatenate([a, gap, b], axis=0)).save(path)
    os.utime(path, (_MTIME, _MTIME))


def _gapped(images, axis):
    out = []
    for image in images:
        if out:
            out.append(np.full((image.shape[0], 4, 3), 255, np.uint8))
        out.append(image)
    return out


def read_answers(key: dict, answers_path: str) -> dict:
    """{group: "A" | "B" | "tie"} from a `group,choice` CSV; every group of the key once."""
    if not os.path.exists(answers_path):
        raise MissingPathError(f"--answers={answers_path}: no such file")
    answers = {}
    with open(answers_path, newline="") as f:
        for row in csv.DictReader(f):
            group = (row.get("group") or "").strip()
            choice = (row.get("choice") or "").strip()
            choice = "tie" if choice.lower() == "tie" else choice.upper()
            if group not in key["groups"]:
                raise UserError(f"--answers={answers_path}: unknown group {group!r}")
            if choice not in CHOICES:
                raise UserError(
                    f"--answers={answers_path}: group {group}: choice {choice!r}, "
                    "expected A, B or tie"
                )
            if group in answers:
                raise UserError(f"--answers={answers_path}: group {group} answered twice")
            answers[group] = choice
    missing = sorted(set(key["groups"]) - set(answers))
    if missing:
        raise UserError(f"--answers={answers_path}: no answer for group(s) {', '.join(missing)}")
    return answers


def score(key: dict, answers: dict) -> dict:
    """Counts of after-selection preferred, ties and before-selection preferred, and the
    two-sided sign test over the groups without a tie (exact binomial, p = 1/2)."""
    after = sum(answers[g] == key["groups"][g]["after_selection"] for g in answers)
    ties = sum(answers[g] == "tie" for g in answers)
    before = len(answers) - after - ties
    decided = after + before
    tail = sum(math.comb(decided, k) for k in range(max(after, before), decided + 1))
    p = min(1.0, 2 * tail / 2**decided) if decided else 1.0
    return {
        "groups": len(answers),
        "after_selection_preferred": after,
        "tie": ties,
        "before_selection_preferred": before,
        "after_selection_rate": after / len(answers) if answers else 0.0,
        "sign_test_p": p,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kerasg2c.augment.reader_study")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make", help="build a study folder from a HistoGAN run")
    m.add_argument("--workdir", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--groups", type=int, default=10)
    m.add_argument("--per_group", type=int, default=5)
    m.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score", help="score a reader's answers")
    s.add_argument("--key", required=True)
    s.add_argument("--answers", required=True)
    s.add_argument("--out", default="", help="scores JSON (default: <answers>.scores.json)")
    args = parser.parse_args(argv)
    try:
        if args.command == "make":
            if args.groups < 1 or args.per_group < 1:
                raise UserError("--groups and --per_group must be positive")
            key = make(args.workdir, args.out, args.groups, args.per_group, args.seed)
            print(f"{len(key['groups'])} groups in {args.out}; keep key.json from the readers")
            return 0
        if not os.path.exists(args.key):
            raise MissingPathError(f"--key={args.key}: no such file")
        try:
            with open(args.key) as f:
                key = json.load(f)
            key["groups"]
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"--key={args.key}: not a reader-study key ({e})") from e
        result = score(key, read_answers(key, args.answers))
        out = args.out or os.path.splitext(args.answers)[0] + ".scores.json"
        with open(out, "w") as f:
            json.dump(result, f, indent=2)
        print(
            f"after selection preferred {result['after_selection_preferred']}, tie "
            f"{result['tie']}, before selection preferred "
            f"{result['before_selection_preferred']} of {result['groups']} groups "
            f"(sign test p = {result['sign_test_p']:.3g}); written to {out}"
        )
        return 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
