"""The docs are true: every module, `kerasg2c` tool and flag, repository path and config key
that README.md and docs/*.md name exists, and every word that promises or denies
("planned", "not yet", "will", "cannot") stands where it was checked by hand. Each tool's
Examples section is held to the same standard. Reads files and configs (no TensorFlow)."""

import ast
import glob
import importlib.util
import os
import re

import pytest

from kerasg2c.jobs import config_files
from kerasg2c.tools import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [
    "README.md",
    *sorted(os.path.relpath(p, REPO) for p in glob.glob(f"{REPO}/docs/**/*.md", recursive=True)),
]
OURS = ("kerasg2c", "trainers", "serving", "benchmarks", "configs", "tests")

# Every hit of PROMISES, checked by hand: (file, words around the hit, why it is true).
ALLOWED = [
    ("docs/METHODS.md", "channels it will see", "describes what training then does"),
    ("docs/METHODS.md", "not yet measured with the tiles' crops", "no such run exists"),
    ("docs/METHODS.md", "not measured yet", "the IHC loss-mix run has not been made"),
    ("docs/RESULTS.md", "will not be changed after the runs", "the plan's own rule"),
    ("docs/RESULTS.md", "as planned", "refers to the committed plan"),
    ("docs/RESULTS.md", "planned rule", "refers to the committed plan"),
    ("docs/RESULTS.md", "planned choices", "refers to the committed plan"),
    ("docs/RESULTS.md", "does\nnot yet", "Q is below k-means at the measured budget"),
    ("docs/ARCHITECTURE.md", "user gave cannot be used", "UserError's meaning"),
    ("docs/ARCHITECTURE.md", "it cannot clash", "configs/ is not a package"),
    ("docs/SERVING.md", "cannot\nrefuse in-graph", "tf2onnx drops assertions"),
    ("docs/SERVING.md", "tf2onnx cannot convert", "a model it fails on gets no ONNX variant"),
]  # fmt: skip
# Keys the docs misspell on purpose, to show the error it gives.
MISSPELLED = ("train.epoch",)
PROMISES = re.compile(r"\b(planned|not yet|yet|will|cannot)\b", re.I)


def _text(path: str) -> str:
    with open(os.path.join(REPO, path)) as f:
        return f.read()


def _flags_of(module: str) -> set[str]:
    """Flags a tool module defines (absl DEFINE_* or argparse add_argument), read from its
    source and from the project modules it imports, plus absl's own."""
    names = {"help", "helpfull", "helpshort", "traceback", "verbosity", "v", "logtostderr"}
    sources = [_source(module)]
    tree = ast.parse(_text(sources[0]))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(OURS[:3]):
            for alias in node.names:
                # `from a.b import c`: c is a module of a.b, or a name defined in a.b.
                name = f"{node.module}.{alias.name}"
                found = importlib.util.find_spec(name if _importable(name) else node.module)
                if found and found.origin and found.origin.endswith(".py"):
                    sources.append(found.origin)
    for source in sources:
        text = _text(source)
        names |= set(re.findall(r"DEFINE_\w+\(\s*\"(\w+)\"", text))
        names |= {n.replace("-", "_") for n in re.findall(r"add_argument\(\s*\"--([\w-]+)\"", text)}
    return names


def _source(module: str) -> str:
    """The file that runs for `python -m module` (a package's `__main__.py`)."""
    spec = importlib.util.find_spec(module)
    if spec.submodule_search_locations:
        spec = importlib.util.find_spec(module + ".__main__")
    return spec.origin


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _commands(text: str):
    """Each shell command in `text`, continuation lines joined."""
    return re.findall(r"(?:^|[\s`(])((?:\.venv/bin/)?kerasg2c [a-z][\w-]*(?:[^\n`]|\\\n)*)", text)


@pytest.mark.parametrize("doc", DOCS)
def test_every_module_a_doc_runs_exists(doc):
    modules = set(re.findall(r"python -m ([\w.]+)", _text(doc)))
    modules = {m.rstrip(".") for m in modules}  # `trainers.<name>` is a pattern, not a module
    missing = [m for m in sorted(modules) if m.split(".")[0] in OURS and not _importable(m)]
    assert missing == []


@pytest.mark.parametrize("doc", DOCS)
def test_every_kerasg2c_tool_and_flag_a_doc_names_exists(doc):
    wrong = []
    for command in _commands(_text(doc)):
        tool = command.split()[1]
        if tool not in cli.TOOLS:
            wrong.append(f"no tool {tool!r}: {command[:60]}")
            continue
        known = _flags_of(cli.TOOLS[tool][0])
        wrong += [
            f"kerasg2c {tool} --{f}" for f in re.findall(r"--(\w+)", command) if f not in known
        ]
    assert wrong == []


@pytest.mark.parametrize("doc", DOCS)
def test_every_repository_path_a_doc_names_exists(doc):
    text = _text(doc)
    named = re.findall(r"`((?:%s|docs|\.ci)/[\w./*-]+)`" % "|".join(OURS), text)
    named += re.findall(r"\]\(((?!https?:)[\w./-]+)\)", text)  # links, relative to the doc
    missing = []
    for path in sorted(set(named)):
        base = REPO if path.split("/")[0] in (*OURS, "docs", ".ci") else os.path.dirname(doc)
        full = os.path.normpath(os.path.join(REPO, base, path))
        if not glob.glob(full) and not glob.glob(full + ".py"):
            missing.append(path)
    assert missing == []


def _configs():
    configs = {}
    for path in sorted(glob.glob(f"{REPO}/configs/*.py")):
        configs[os.path.relpath(path, REPO)] = config_files.load(path)
    return configs


def _has(config, key: str) -> bool:
    node = config
    for part in key.split("."):
        if not hasattr(node, "keys") or part not in node.keys():
            return False
        node = node[part]
    return True


@pytest.fixture(scope="module")
def configs():
    return _configs()


@pytest.mark.parametrize("doc", DOCS)
def test_every_config_key_a_doc_names_exists(doc, configs):
    keys = set(re.findall(r"--config\.([\w.]+)", _text(doc)))
    missing = [
        k for k in sorted(keys - set(MISSPELLED)) if not any(_has(c, k) for c in configs.values())
    ]
    assert missing == []


def test_every_promise_or_denial_in_the_docs_was_checked():
    unchecked = []
    for doc in DOCS:
        text = _text(doc)
        for hit in PROMISES.finditer(text):
            around = text[max(0, hit.start() - 60) : hit.end() + 60]
            if not any(d == doc and words in around for d, words, _ in ALLOWED):
                unchecked.append(f"{doc}: ...{' '.join(around.split())}...")
    assert unchecked == []


@pytest.mark.parametrize("tool", sorted(cli.TOOLS))
def test_every_tool_has_examples_that_name_its_own_flags(tool):
    module = cli.TOOLS[tool][0]
    doc = ast.get_docstring(ast.parse(_text(_source(module)))) or ""
    assert "Examples:" in doc, f"{module}: no Examples section in its docstring"
    examples = doc.split("Examples:", 1)[1]
    commands = re.findall(
        r"(?:kerasg2c %s|python -m %s)\b((?:[^\n]|\\\n)*)" % (tool, module), examples
    )
    assert commands, (
        f"{module}: its Examples run neither `kerasg2c {tool}` nor `python -m {module}`"
    )
    known = _flags_of(module)
    assert [f for c in commands for f in re.findall(r"--(\w+)", c) if f not in known] == []
