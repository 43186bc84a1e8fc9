"""docs/METHODS.md's "Departures from the paper" tables are true: every row's default and
the paper's value are what the configs hold, one config key apart.

Each table sits under a heading `### Departures from the paper` and is preceded by a line
naming the two configs it compares, for example

    Ours: `configs/infowgan.py`. The paper's: `configs/infowgan_paper_a.py`.

Its columns are `choice | paper's | ours | why | config key`. The first `backticked`
literal of the paper's and ours columns is the value (a Python literal, or a bare string);
the config key column holds the key and, where the row's paper value lives in another paper
config than the section's, that config's path (`configs/...py`).
"""

import ast
import functools
import os
import re

import pytest
from conftest import REPO

from kerasg2c.jobs import config_files

METHODS = os.path.join(REPO, "docs", "METHODS.md")
HEADING = "### Departures from the paper"
# Every paper has its table (the section headings of docs/METHODS.md that must hold one).
SECTIONS_WITH_TABLES = (
    "## 1. CycleGAN stain translation",
    "## 2. G2C: generator-to-classifier",
    "## 3. HistoGAN with selective synthetic augmentation",
    "## 4. InfoWGAN-GP cell-level representation",
    "## 5. IHC pipeline: MIL classifier and Ki-67 measure",
)
_TICKED = re.compile(r"`([^`]+)`")
_CONFIG = re.compile(r"`(configs/[\w/]+\.py)`")


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_tables(text: str) -> list[dict]:
    """Every departures table of `text`: one dict per row with its section, the two
    configs, the key and both values."""
    rows, section, lines = [], None, text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("## "):
            section = line.strip()
        if line.strip() != HEADING:
            continue
        j, ours_config, paper_config = i + 1, None, None
        while j < len(lines) and not lines[j].startswith("|"):
            if lines[j].startswith("Ours:"):
                ours_config, paper_config = _CONFIG.findall(lines[j])[:2]
            j += 1
        header = _cells(lines[j])
        assert header == ["choice", "paper's", "ours", "why", "config key"], (section, header)
        for line in lines[j + 2 :]:
            if not line.startswith("|"):
                break
            choice, paper, ours, _, key_cell = _cells(line)
            override = _CONFIG.findall(key_cell)
            rows.append(
                {
                    "section": section,
                    "choice": choice,
                    "key": _TICKED.findall(key_cell)[0],
                    "ours_config": ours_config,
                    "paper_config": override[0] if override else paper_config,
                    "paper": _literal(_TICKED.findall(paper)[0]),
                    "ours": _literal(_TICKED.findall(ours)[0]),
                }
            )
    return rows


@functools.cache
def _config(path: str):
    return config_files.load(os.path.join(REPO, path))


def _value(config, key: str):
    return functools.reduce(getattr, key.split("."), config)


def _rows():
    with open(METHODS) as f:
        return parse_tables(f.read())


def test_every_paper_has_a_departures_table():
    with open(METHODS) as f:
        text = f.read()
    sections = {row["section"] for row in parse_tables(text)}
    missing = [s for s in SECTIONS_WITH_TABLES if s not in sections]
    assert not missing, f"no '{HEADING}' table under {missing}"


@pytest.mark.parametrize("row", _rows(), ids=lambda r: f"{r['ours_config']}:{r['key']}")
def test_departure_row_is_one_key_from_the_paper(row):
    assert row["ours_config"] and row["paper_config"], row
    ours, paper = _config(row["ours_config"]), _config(row["paper_config"])
    assert _value(ours, row["key"]) == row["ours"], (row["ours_config"], row["key"])
    assert _value(paper, row["key"]) == row["paper"], (row["paper_config"], row["key"])
    assert row["ours"] != row["paper"], f"{row['key']}: not a departure"


def test_parser_reads_a_table():
    text = "\n".join(
        [
            "## 4. X",
            HEADING,
            "",
            "Ours: `configs/a.py`. The paper's: `configs/b.py`.",
            "",
            "| choice | paper's | ours | why | config key |",
            "| --- | --- | --- | --- | --- |",
            "| batch | `64` (§IV) | `32` | CPU | `train.batch_size` |",
            "| loss | `'ce'` | `focal` | flat | `model.loss` in `configs/c.py` |",
            "",
        ]
    )
    first, second = parse_tables(text)
    assert (first["key"], first["paper"], first["ours"]) == ("train.batch_size", 64, 32)
    assert (first["ours_config"], first["paper_config"]) == ("configs/a.py", "configs/b.py")
    assert (second["paper"], second["ours"], second["paper_config"]) == (
        "ce",
        "focal",
        "configs/c.py",
    )
