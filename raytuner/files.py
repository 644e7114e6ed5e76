"""Safe YAML reading and writing for experiment files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

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


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename, so readers never see
    a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump_yaml(data: Any) -> str:
    """YAML text with keys in their given order."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
