"""The Examples sections of the model and layer docstrings run as written (doctest), and
every public model or layer class has one."""

import doctest
import importlib
import inspect
import pkgutil

import keras
import pytest

import kerasg2c.layers
import kerasg2c.models

MODULES = sorted(
    f"{package.__name__}.{info.name}"
    for package in (kerasg2c.models, kerasg2c.layers)
    for info in pkgutil.iter_modules(package.__path__)
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _public_layer_classes(module):
    """The public keras Layer (or Model) classes `module` defines (not re-exports)."""
    return [
        obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and obj.__module__ == module.__name__
        and not name.startswith("_")
        and issubclass(obj, keras.layers.Layer)
    ]


def test_modules_found():
    assert "kerasg2c.models.g2c" in MODULES
    assert "kerasg2c.layers.self_attention" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    module = importlib.import_module(name)
    missing = [
        cls.__name__
        for cls in _public_layer_classes(module)
        if "Examples:" not in (cls.__doc__ or "") or ">>>" not in cls.__doc__
    ]
    assert not missing, f"{name}: no Examples section in {missing}"
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    tests = [t for t in finder.find(module, name) if t.examples]
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
    if _public_layer_classes(module):
        assert result.attempted > 0
