"""Moved to `kerasg2c.tools.stain_attention` (`kerasg2c stain-attention`); this path works
for one release."""

from kerasg2c import aliases

aliases.forward(__name__, "kerasg2c.tools.stain_attention", "kerasg2c stain-attention")
