"""The checks every job's tests call, as `model_harness.py` is for models: a tiny run of a
trainer in a subprocess, a config key the job's check refuses by name, and a run killed
mid-epoch that resumed to the state of the same run uninterrupted."""

import os
import re
import signal

import numpy as np
import pytest
from conftest import REPO, checkpoint_state, killed_beside_whole, run_python, trainer_args

from kerasg2c.errors import UserError
from kerasg2c.jobs import config_files, shared_config


def trained_run(tmp_path_factory, name: str, flags) -> "os.PathLike":
    """The workdir of `python -m trainers.<name>` run with `flags` in a fresh folder; the
    calling test fails with the run's stderr when the run fails. Runs a subprocess only, so
    a @prefetched body may call it.

    Args:
        tmp_path_factory: pytest's factory of temporary folders.
        name: the trainer (and config) name, e.g. "histogan".
        flags: the `--config.*` overrides.
    """
    workdir = tmp_path_factory.mktemp(name)
    proc = run_python(trainer_args(name, workdir, *flags))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


def assert_bad_key_named(config_name: str, check, key: str, value, message: str):
    """configs/<config_name>.py with `key` set to `value` is refused by `check` with a
    UserError whose message holds `message`.

    Args:
        config_name: the config file's name without `.py`.
        check: the job's check, called with the config.
        key: a dotted key, e.g. "histogan.ema_alpha".
        value: the bad value.
        message: text the error must hold (matched literally).
    """
    config = config_files.load(os.path.join(REPO, "configs", f"{config_name}.py"))
    section, name = key.rsplit(".", 1)
    shared_config.value(config, section)[name] = value
    with pytest.raises(UserError, match=re.escape(message)):
        check(config)


# One epoch, a checkpoint every 2 steps, a log line every step, op determinism: a run
# killed once its step 3 is logged has the checkpoint of step 2 (or of 4, if step 4 ends
# before the signal lands) as its latest.
RESUME_FLAGS = [
    "--config.train.epochs=1",
    "--config.train.checkpoint_every_steps=2",
    "--config.train.log_every_steps=1",
    "--config.train.deterministic=True",
]


def killed_after_step_3(tmp_path_factory, name: str, flags, steps: int):
    """`conftest.killed_beside_whole` for `trainers.<name>` with `flags` and RESUME_FLAGS:
    the run SIGKILLed once its step 3 of `steps` is logged, then resumed, and the same run
    uninterrupted, in a fresh folder. Runs subprocesses only (a @prefetched body may call
    it).

    Args:
        tmp_path_factory: pytest's factory of temporary folders.
        name: the trainer (and config) name.
        flags: the run's `--config.*` overrides (RESUME_FLAGS follow them).
        steps: the steps of the one epoch.
    """
    tmp_path = tmp_path_factory.mktemp("resume")
    line = f"epoch 1/1 step 3/{steps}"
    return killed_beside_whole(name, tmp_path, [*flags, *RESUME_FLAGS], line)


def assert_resumed_to_the_same_state(resume_runs, steps: int):
    """The killed run of `resume_runs` died by SIGKILL, resumed from the checkpoint of step
    2 or 4, and ended bitwise where the uninterrupted run ended after `steps` steps:
    networks, optimizers and step counters.

    Args:
        resume_runs: `killed_after_step_3`'s result.
        steps: the steps of the whole run.
    """
    (killed, returncode, resumed), (whole, whole_returncode, whole_log) = resume_runs
    assert returncode == -signal.SIGKILL
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert whole_returncode == 0, whole_log[-4000:]
    assert int(re.search(r"resumed from .* at step (\d+)", resumed.stderr)[1]) in (2, 4)
    expected, got = checkpoint_state(whole), checkpoint_state(killed)
    assert int(expected["step/.ATTRIBUTES/VARIABLE_VALUE"]) == steps
    assert expected.keys() == got.keys()
    for name in expected:
        np.testing.assert_array_equal(expected[name], got[name], err_msg=name)
