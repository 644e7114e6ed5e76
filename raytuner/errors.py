"""One root error type; the CLI turns any of them into a one-line message."""

from __future__ import annotations

from pathlib import Path

#: Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


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


class UserCodeMissing(ConfigError):
    """The user's own module (named by import path) is not importable here, and the step at
    hand needs it (building a model or a data set); reading results never does."""


class RunError(RaytunerError):
    """A failure while running an experiment (exit code 1)."""

    exit_code = 1


class CheckpointError(RaytunerError):
    """A checkpoint is missing, truncated or not a raytuner checkpoint."""


class Interrupted(RaytunerError):
    """The run was stopped by Ctrl-C (or SIGINT); its folder says whether it can resume."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, run_dir: Path, resumable: bool):
        self.run_dir = run_dir
        self.resumable = resumable
        if resumable:
            message = (f"interrupted; the run is saved in {run_dir}: continue it with "
                       f"`raytuner resume {run_dir}`")
        else:
            message = (f"interrupted before Ray saved any experiment state in {run_dir}; "
                       "nothing to resume yet: run it again with --resume (or --overwrite)")
        super().__init__(message)
