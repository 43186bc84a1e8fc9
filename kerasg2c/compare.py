"""Moved to `kerasg2c.tools.compare` (`kerasg2c compare`); this path works for one release."""

from kerasg2c import aliases

aliases.forward(__name__, "kerasg2c.tools.compare", "kerasg2c compare")
