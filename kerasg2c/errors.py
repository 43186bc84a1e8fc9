"""The one exception type for a user's mistake.

A `UserError` says what was wrong with what the user gave (a config value, a file, a
folder) in one line that names the config key or the file and how to fix it. The
launchers print that line and exit 2, without a traceback.
"""


class UserError(ValueError):
    """A config value, file or folder the user gave cannot be used; the message names it."""


class MissingPathError(UserError, FileNotFoundError):
    """A file or folder the user named, or one their data layout needs, does not exist."""
