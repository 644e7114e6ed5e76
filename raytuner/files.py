"""The files raytuner reads and writes: safe YAML, atomic writes, and storage locations.

A storage location is a local path or a URI (``s3://``, ``gs://``, ``file://``, any filesystem
``pyarrow.fs.FileSystem.from_uri`` resolves, which is what Ray Tune's storage uses);
:func:`resolve_location` is the one place that turns either into a filesystem and a path.
"""

from __future__ import annotations

import os
import tempfile
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow.fs
import yaml

from raytuner.errors import ConfigError

#: More aliases than any hand-written experiment needs; a "billion laughs" file has far more.
MAX_ALIASES = 100


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents with too many aliases (YAML alias bombs)."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._alias_count = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._alias_count += 1
            if self._alias_count > MAX_ALIASES:
                raise ConfigError(f"more than {MAX_ALIASES} YAML aliases; refusing to expand "
                                  "what looks like an alias bomb")
        return super().compose_node(parent, index)


def parse_yaml(text: str, *, source: str) -> Any:
    """Parse YAML text safely; syntax errors become a ConfigError naming ``source``."""
    try:
        return yaml.load(text, Loader=_LimitedLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigError as exc:
        raise ConfigError(str(exc), source=source) from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}: "
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}not valid YAML: {problem}", source=source) from None


def read_yaml_file(path: str | os.PathLike) -> Any:
    """Read and parse a YAML file; a missing or unreadable file is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", source=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a YAML file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", source=str(path)) from None
    return parse_yaml(text, source=str(path))


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Write ``path`` through a temporary file beside it, fsynced and renamed into place, so
    readers (and a crash) never see a half-written file; ``mode`` ``"w"`` (UTF-8) or ``"wb"``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`atomic_write`)."""
    with atomic_write(path) as handle:
        handle.write(text)


def dump_yaml(data: Any) -> str:
    """YAML text with keys in their given order."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


# ---------------------------------------------------------------------------------------------
# Storage locations


@dataclass(frozen=True)
class StorageLocation:
    """A resolved location: what Ray gets, and how raytuner reads and writes it."""

    #: as given to Ray's ``RunConfig(storage_path=...)``: an absolute path or a URI
    uri: str
    #: the pyarrow filesystem behind it
    filesystem: pyarrow.fs.FileSystem
    #: the path inside ``filesystem``
    fs_path: str
    #: True when given as a plain path (not a URI)
    is_path: bool

    @property
    def on_this_machine(self) -> bool:
        """True when the location is a folder on this machine's file system (a plain path or a
        ``file://`` URI): other nodes see it only if it is a shared mount."""
        return isinstance(self.filesystem, pyarrow.fs.LocalFileSystem)

    def child(self, name: str) -> str:
        """The URI (or path) of ``name`` inside this location."""
        if self.is_path:
            return str(Path(self.uri) / name)
        parsed = urllib.parse.urlsplit(self.uri)
        path = parsed.path.rstrip("/") + "/" + name
        return urllib.parse.urlunsplit(parsed._replace(path=path))


def is_uri(value: str | os.PathLike) -> bool:
    """True for ``scheme://...`` strings (s3://, gs://, file://, ...)."""
    return "://" in str(value)


def resolve_location(location: str | os.PathLike, *, key: str | None = "--storage"
                     ) -> StorageLocation:
    """A local path or URI as a :class:`StorageLocation`; a malformed URI or an unknown or
    unavailable filesystem is a ConfigError (naming ``key``, the option that gave it)."""
    text = str(location)
    if not is_uri(text):
        path = Path(text).expanduser().resolve()
        return StorageLocation(str(path), pyarrow.fs.LocalFileSystem(), str(path), True)
    try:
        filesystem, fs_path = pyarrow.fs.FileSystem.from_uri(text)
    except Exception as exc:  # ArrowInvalid, ArrowNotImplementedError, OSError (credentials)
        raise ConfigError(f"storage location {text!r} cannot be opened: {exc}; expected a local "
                          "path or a URI such as s3://bucket/runs, gs://bucket/runs or "
                          "file:///mnt/shared/runs", path=key) from None
    return StorageLocation(text.rstrip("/"), filesystem, fs_path.rstrip("/") or "/", False)
