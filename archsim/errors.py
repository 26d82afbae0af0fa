"""Project exception types.

UserError carries a one-line, user-facing message; the CLI prints it and exits 2. Anything else
that escapes is an internal error (exit 1).
"""


class ArchsimError(Exception):
    """Base class of every exception archsim raises on purpose."""


class UserError(ArchsimError):
    """Bad input from the user: a config, a workload spec, a command-line value."""


class ConfigError(UserError):
    """A hardware config is malformed. The message names file, line, key path, expected, found."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None):
        self.file, self.line, self.key = file, line, key
        where = ""
        if file is not None:
            where = f"{file}"
            if line is not None:
                where += f":{line}"
            where += ": "
        if key:
            where += f"{key}: "
        super().__init__(where + message)


class WorkloadError(UserError):
    """A workload spec cannot be parsed or built."""
