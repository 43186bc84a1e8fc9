"""The shared body of every `python -m trainers.<name>` launcher."""

import sys

from absl import logging

from kerasg2c.training import loop


def run(train_fn, config) -> None:
  """Calls `train_fn(config)`; turns the loop's stops into messages and exit codes.

  Exit codes: 0 done, 128+signal after SIGTERM/SIGINT (checkpoint saved, rerun
  to resume), 3 when a loss became NaN/Inf.
  """
  try:
    train_fn(config)
  except loop.Interrupted as e:
    logging.warning("%s", e)
    sys.exit(128 + e.signum)
  except loop.NonFiniteLossError as e:
    logging.error("%s", e)
    sys.exit(3)
