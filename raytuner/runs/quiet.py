"""Ray's own output, kept off the user's screen unless ``--verbose``, and kept in the run
folder for whoever needs it.

Through Ray's documented knobs, not by filtering text: ``RAY_AIR_NEW_OUTPUT=0`` with
``RunConfig(verbose=0)`` (Tune's legacy reporter at verbosity 0 prints nothing: no banner box,
no hint that points TensorBoard into Ray's temporary folder), ``ray.init(log_to_driver=False)``
(worker output, shutdown tracebacks included, stays in the session's log files), and the
level of the logger that warns about token authentication for a local cluster raytuner started
itself; Optuna's verbosity likewise (its INFO line per finished trial). Warnings and errors of
Ray's driver still reach the screen, and a copy of them and of the whole session log folder (a
local cluster) lands in ``<run_dir>/logs/``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

#: where a run folder keeps Ray's logs
LOGS_DIR = "logs"
DRIVER_LOG = "ray-driver.log"
SESSION_LOGS = "ray-session"
#: Ray's logger for the "token authentication is enabled" notice of ``ray.init()``
TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"

_verbose = False


def set_verbose(verbose: bool) -> None:
    """Show Ray's own output (``--verbose``) or keep it in the run folder (the default)."""
    global _verbose
    _verbose = verbose


def is_verbose() -> bool:
    return _verbose


@contextlib.contextmanager
def quiet_token_notice() -> Iterator[None]:
    """Hide Ray's notice that the local cluster it starts uses token authentication (it does,
    and the token stays where Ray puts it); other clusters keep their warnings."""
    logger = logging.getLogger(TOKEN_LOGGER)
    level = logger.level
    if not _verbose:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def quiet_reporter() -> Iterator[None]:
    """Tune's legacy reporter (silent at ``verbose=0``) while Tune runs, unless verbose; the
    variable goes back as it was, for other Tune experiments in the same process."""
    old = os.environ.get("RAY_AIR_NEW_OUTPUT")
    if not _verbose:
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = old


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's INFO lines (a study created, each trial finished with its values) off the
    screen unless verbose, through Optuna's documented verbosity; its warnings still show."""
    import optuna  # first: its import sets its logger's level to INFO

    level = optuna.logging.get_verbosity()
    if not _verbose:
        optuna.logging.set_verbosity(max(level, logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


@contextlib.contextmanager
def driver_log(run_dir: Path) -> Iterator[None]:
    """Ray's driver-side log records (the level ``ray.init`` set: warnings and up) also into
    ``<run_dir>/logs/ray-driver.log``."""
    folder = Path(run_dir) / LOGS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / DRIVER_LOG, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("ray")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()


def keep_session_logs(logs_dir: str | None, run_dir: Path) -> Path | None:
    """Copy a local Ray session's log folder into ``<run_dir>/logs/ray-session``."""
    if not logs_dir or not Path(logs_dir).is_dir():
        return None
    target = Path(run_dir) / LOGS_DIR / SESSION_LOGS
    # Ray keeps writing its logs: a file that vanishes or changes mid-copy is skipped.
    with contextlib.suppress(shutil.Error, OSError):
        shutil.copytree(logs_dir, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.sock", "sockets"))
    return target
