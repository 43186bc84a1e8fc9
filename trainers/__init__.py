"""Launchers: `python -m trainers.<name> --config=configs/<name>.py`."""

from kerasg2c import quiet_start

quiet_start.import_tensorflow()
