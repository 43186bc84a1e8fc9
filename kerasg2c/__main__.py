"""`python -m kerasg2c` is the `kerasg2c` command."""

import sys

from kerasg2c.tools import cli

sys.exit(cli.main())
