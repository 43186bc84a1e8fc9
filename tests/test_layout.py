"""The layout of the code, as docs/ARCHITECTURE.md draws it: seven layers from the building
blocks up to the launchers, no import that runs upward, no circle, short modules. Reads
the sources only (no TensorFlow)."""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Bottom to top. A module may import from its own layer or below, never above.
LAYERS = (
    ("kerasg2c/layers", "kerasg2c/losses", "kerasg2c/optimizers", "kerasg2c/training",
     "kerasg2c/errors.py", "kerasg2c/json_files.py", "kerasg2c/quiet_start.py",
     "kerasg2c/aliases.py", "kerasg2c/__init__.py"),
    ("kerasg2c/models", "kerasg2c/slides"),
    ("kerasg2c/data",),
    ("kerasg2c/phantoms", "kerasg2c/pathology", "kerasg2c/mil", "kerasg2c/augment"),
    ("kerasg2c/evaluation",),
    ("kerasg2c/jobs",),
    ("kerasg2c/tools", "kerasg2c/__main__.py", "serving", "trainers",
     # Old paths of the tools, forwarded for one release (kerasg2c.aliases).
     "kerasg2c/compare.py", "kerasg2c/tile.py", "kerasg2c/translate.py",
     "kerasg2c/stain_attention.py"),
)  # fmt: skip
LAYER = {unit: n for n, units in enumerate(LAYERS, 1) for unit in units}
MAX_LINES = 300


def _sources():
    for top in ("kerasg2c", "serving", "trainers"):
        for folder, _, files in os.walk(os.path.join(REPO, top)):
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(folder, name), REPO)


def _module(path: str) -> str:
    return path[:-3].replace(os.sep, ".").removesuffix(".__init__")


def _unit(path: str) -> str:
    """The LAYERS entry a file belongs to: its folder below kerasg2c/, or the file."""
    parts = path.split(os.sep)
    if parts[0] != "kerasg2c":
        return parts[0]
    return path if len(parts) == 2 else "/".join(parts[:2])


def _imports(path: str):
    """Every project module `path` imports, at any depth of its code (lazy ones too)."""
    with open(os.path.join(REPO, path)) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        for name in names:
            if name.split(".")[0] in ("kerasg2c", "serving", "trainers"):
                yield name


FILES = {_module(p): p for p in _sources()}


def _file_of(name: str) -> str | None:
    """The file of the longest known module prefix of `name` (`a.b.func` → a/b.py)."""
    while name:
        if name in FILES:
            return FILES[name]
        name = name.rpartition(".")[0]
    return None


def _edges():
    """(importer, imported) file pairs, each once."""
    pairs = set()
    for path in FILES.values():
        for name in _imports(path):
            target = _file_of(name)
            if target and target != path and not target.endswith("__init__.py"):
                pairs.add((path, target))
    return sorted(pairs)


def test_every_file_has_a_layer():
    assert sorted({_unit(p) for p in FILES.values()} - set(LAYER)) == []


def test_no_import_runs_upward():
    upward = [
        f"{a} (layer {LAYER[_unit(a)]}) imports {b} (layer {LAYER[_unit(b)]})"
        for a, b in _edges()
        if LAYER[_unit(b)] > LAYER[_unit(a)]
    ]
    assert upward == []


def test_the_library_never_imports_its_launchers_and_the_loop_no_evaluation():
    edges = _edges()
    launchers = [e for e in edges if e[0].startswith("kerasg2c/") and e[1].startswith("trainers/")]
    assert launchers == []
    loop = [e for e in edges if e[0].startswith("kerasg2c/training/") and "evaluation" in e[1]]
    assert loop == []


def test_no_circle_between_modules():
    graph = {}
    for a, b in _edges():
        graph.setdefault(a, set()).add(b)
    state, circles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == []


@pytest.mark.parametrize("path", [p for p in FILES.values() if not p.startswith("trainers")])
def test_modules_are_short(path):
    with open(os.path.join(REPO, path)) as f:
        lines = sum(1 for _ in f)
    assert lines <= MAX_LINES, f"{path}: {lines} lines; split it by concept"
