"""Moved to `kerasg2c.tools.tile` (`kerasg2c tile`); this path works for one release."""

from kerasg2c import aliases

aliases.forward(__name__, "kerasg2c.tools.tile", "kerasg2c tile")
