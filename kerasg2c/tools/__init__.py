"""Command-line tools, one module each, all reached through the `kerasg2c` command
(`kerasg2c --help` lists them; `kerasg2c.tools.cli` holds the table). Import the module
you need; this package imports nothing."""
