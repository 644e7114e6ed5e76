"""One root error type; the CLI turns any of them into a one-line message."""

from __future__ import annotations


class RaytunerError(Exception):
    """Root of every error raytuner raises on purpose."""

    #: process exit code the CLI uses for this error
    exit_code = 1


class ConfigError(RaytunerError):
    """Bad user input: a file, a key, a value or an option (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, *, source: str | None = None, path: str | None = None):
        self.source = source
        self.path = path
        prefix = ""
        if source:
            prefix += f"{source}: "
        if path:
            prefix += f"{path}: "
        super().__init__(prefix + message)


class RunError(RaytunerError):
    """A failure while running an experiment (exit code 1)."""

    exit_code = 1
