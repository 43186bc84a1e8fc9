"""The shared body of every `python -m trainers.<name>` launcher.

A job is a module with `check(config)` (refuses bad config values by key, before anything
is read or written) and `train_and_evaluate(config, context) -> report`. The launcher
checks the config, builds the one run context of the process and runs the job.
"""

import sys

from absl import app, flags, logging

from kerasg2c.errors import UserError
from kerasg2c.jobs import config_files
from kerasg2c.jobs.context import RunContext
from kerasg2c.training import loop

_TRACEBACK = flags.DEFINE_bool(
    "traceback", False, "Show the Python traceback of a config or data error, not one line."
)


def run_job(job, config) -> dict:
    """Checks `config`, builds the run context and runs `job` in it; returns its report.
    A job with its own phantoms defines `write_phantoms(root, config)`."""
    job.check(config)
    context = RunContext.create(config, write_phantoms=getattr(job, "write_phantoms", None))
    return job.train_and_evaluate(config, context)


def config_argument(name: str, argv) -> str | None:
    """The value of `--<name>=V` or `--<name> V` in `argv` (the last one), or None."""
    value = None
    for i, arg in enumerate(argv[1:], 1):
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
        elif arg == f"--{name}" and i + 1 < len(argv):
            value = argv[i + 1]
    return value


def check_config_file(path: str) -> None:
    """Loads the config file `path` (`FILE` or `FILE:ARG`, as ml_collections' config flag
    takes it) and calls its `get_config`, so that a missing or broken file is one line
    before the flag parser meets it.

    Raises:
      UserError: no such file, a syntax error (file and line), or `get_config` fails.
    """
    file, *arg = path.split(":", 1)
    module = config_files.load_module(file)
    try:
        module.get_config(*arg)
    except UserError:
        raise
    except Exception as e:  # whatever the file's own code raises
        raise UserError(f"{file}: get_config() fails: {type(e).__name__}: {e}") from e


def refuse_broken_config_file(name: str = "config") -> None:
    """Exits 2 with one line when the `--<name>=` file of the command line is missing or
    broken (`check_config_file`), before ml_collections' flag parser meets it with a
    traceback; `--traceback` shows where. Every launcher with a config flag calls it."""
    path = config_argument(name, sys.argv)
    if path is None:
        return
    try:
        check_config_file(path)
    except UserError as e:
        if "--traceback" in sys.argv:
            raise
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        sys.exit(2)


def main(job, config_flag) -> None:
    """Parses flags, runs `job` on the config, maps failures to messages and exit codes.

    Exit codes: 0 done; 1 the command line cannot be parsed (an override names no key or
    has the wrong type; the message names it); 2 a config value, file or folder cannot be
    used (one line naming the key or file, a missing or broken `--config` file too;
    `--traceback` shows where); 3 a loss became NaN/Inf; 128+signal after SIGTERM/SIGINT
    (a checkpoint was saved: rerun the same command to resume).
    """
    refuse_broken_config_file(config_flag.name)
    started = False

    def run(argv):
        nonlocal started
        started = True
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        try:
            run_job(job, config_flag.value)
        except UserError as e:
            if _TRACEBACK.value:
                raise
            print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
            sys.exit(2)
        except loop.Interrupted as e:
            logging.warning("%s", e)
            sys.exit(128 + e.signum)
        except loop.NonFiniteLossError as e:
            logging.error("%s", e)
            sys.exit(3)

    try:
        app.run(run)
    except (AttributeError, KeyError) as e:
        if started:
            raise
        # ml_collections reports an unknown override key this way, during flag parsing.
        overrides = " ".join(a for a in sys.argv[1:] if a.startswith("--config."))
        sys.exit(f"FATAL config error: no such key {e.args[0]}\n  in overrides: {overrides}")
