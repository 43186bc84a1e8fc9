"""Moved to `kerasg2c.tools.translate` (`kerasg2c translate`); this path works for one release."""

from kerasg2c import aliases

aliases.forward(__name__, "kerasg2c.tools.translate", "kerasg2c translate")
