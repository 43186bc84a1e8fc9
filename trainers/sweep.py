"""Moved to `kerasg2c.tools.sweep` (`kerasg2c sweep`); this path works for one release."""

from kerasg2c import aliases

aliases.forward(__name__, "kerasg2c.tools.sweep", "kerasg2c sweep")
