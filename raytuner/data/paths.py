"""Where data sets live on disk, and the lock that keeps concurrent downloads apart."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from raytuner.errors import ConfigError

if TYPE_CHECKING:  # the config validates with this module: no import back at runtime
    from raytuner.config.schema import DataConfig

#: environment variable that moves the shared data folder (e.g. to a cluster's NFS mount)
DATA_ENV = "RAYTUNER_DATA"

#: how long a loader waits for another process's download of the same set before giving up
LOCK_TIMEOUT_S = 3600.0


def default_data_root() -> Path:
    """``$RAYTUNER_DATA``, else ``$XDG_CACHE_HOME/raytuner/data``, else
    ``~/.cache/raytuner/data``: one folder every run and every trial on a machine shares."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "raytuner" / "data"


def data_root(data_config: DataConfig) -> Path:
    """The folder ``data.root`` names (relative paths from the current folder), or the
    default shared folder when it is not set."""
    root = data_config.root
    return Path(root).expanduser().resolve() if root else default_data_root().resolve()


def set_lock(root: Path, folder: str) -> FileLock:
    """An inter-process lock for one set in ``root``: trials on one node that load the same
    set at once (data.* searched) must not download or extract it twice."""
    if not root.is_dir():
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the data folder {root}: {exc}",
                              path="data.root") from None
    return FileLock(str(root / f".{folder}.lock"), timeout=LOCK_TIMEOUT_S)


__all__ = ["DATA_ENV", "Timeout", "data_root", "default_data_root", "set_lock"]
