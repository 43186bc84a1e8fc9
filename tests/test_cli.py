"""The `kerasg2c` command (`kerasg2c.tools.cli`) and the old module paths it replaced
(`kerasg2c.aliases`), run as a user runs them."""

import importlib.util
import subprocess
import sys
import warnings

import pytest
from conftest import REPO

from kerasg2c.tools import cli


def _run(*args):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True)


def test_every_tool_in_the_table_is_a_module_that_runs():
    for name, (module, what) in cli.TOOLS.items():
        spec = importlib.util.find_spec(module)
        assert spec is not None and what, name
        if spec.submodule_search_locations:  # a package runs its __main__
            assert importlib.util.find_spec(module + ".__main__") is not None, name


def test_no_tool_lists_them_and_an_unknown_one_exits_2(capsys):
    assert cli.main(["kerasg2c"]) == 0
    listed = capsys.readouterr().out
    assert all(f"  {name} " in listed for name in cli.TOOLS)
    assert cli.main(["kerasg2c", "nope"]) == 2
    assert "no tool 'nope'" in capsys.readouterr().err


def test_a_tool_gets_its_flags_and_its_exit_code():
    listed = _run("-m", "kerasg2c")
    assert listed.returncode == 0 and "compare" in listed.stdout
    direct = _run("-m", "kerasg2c.tools.compare", "--help")  # absl's --help exits 1
    helped = _run("-m", "kerasg2c", "compare", "--help")
    assert direct.returncode == 1 and helped.returncode == 0 and "--figure" in helped.stdout
    refused = _run("-m", "kerasg2c", "compare", "missing_a", "missing_b")
    direct = _run("-m", "kerasg2c.tools.compare", "missing_a", "missing_b")
    assert refused.returncode == direct.returncode != 0 and "missing_a" in refused.stderr


def test_an_old_tool_path_still_runs_and_says_where_it_went():
    done = _run("-m", "kerasg2c.compare", "--help")
    direct = _run("-m", "kerasg2c.tools.compare", "--help")
    assert done.returncode == direct.returncode and "--figure" in done.stdout
    assert "moved to kerasg2c.tools.compare; run `kerasg2c compare`" in done.stderr
    from kerasg2c import compare  # noqa: F401  (the old import path)
    from kerasg2c.tools import compare as moved

    assert sys.modules["kerasg2c.compare"] is moved


def test_an_old_phantom_import_warns_and_gives_the_new_module():
    import kerasg2c.data
    from kerasg2c.phantoms import cells

    with pytest.warns(DeprecationWarning, match="kerasg2c.phantoms.cells"):
        assert kerasg2c.data.cell_phantoms is cells
    with warnings.catch_warnings(), pytest.raises(AttributeError, match="no attribute 'nope'"):
        kerasg2c.data.nope  # noqa: B018
