"""The shared body of every `python -m trainers.<name>` launcher."""

import sys

from absl import app, logging

from kerasg2c.training import loop


def main(train_fn, config_flag) -> None:
    """Parses flags, runs `train_fn(config)`, maps failures to messages and exit codes.

    Exit codes: 0 done; 1 a config override names no key or has the wrong type
    (the message names it); 128+signal after SIGTERM/SIGINT (a checkpoint was
    saved: rerun the same command to resume); 3 a loss became NaN/Inf.
    """
    started = False

    def run(argv):
        nonlocal started
        started = True
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        try:
            train_fn(config_flag.value)
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
