"""``--set KEY=VALUE`` overrides and dotted keys into an experiment mapping."""

from __future__ import annotations

from typing import Any

from raytuner.errors import ConfigError
from raytuner.files import parse_yaml


def parse_override(text: str) -> tuple[str, Any]:
    """``"a.b=3"`` -> ``("a.b", 3)``; the value is read as YAML (numbers, bools, lists...)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"malformed --set {text!r}; expected KEY=VALUE with a dotted KEY, "
                          "e.g. --set train.epochs=5")
    value = parse_yaml(raw, source=f"--set {key}") if raw.strip() else ""
    return key, value


def set_dotted(data: dict[str, Any], key: str, value: Any, *, source: str = "--set") -> None:
    """Set ``data[a][b][c] = value`` for ``key = "a.b.c"``, creating sections as needed.

    Keys below ``search.space`` are dotted paths themselves, so everything after
    ``search.space.`` is one key.
    """
    parts = key.split(".")
    if parts[:2] == ["search", "space"] and len(parts) > 2:
        parts = ["search", "space", ".".join(parts[2:])]
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key!r}: {'.'.join(parts[:i + 1])} is "
                              f"{type(child).__name__}, not a section", source=source)
        node = child
    node[parts[-1]] = value


def get_dotted(data: dict[str, Any], key: str) -> Any:
    """``data[a][b][c]`` for ``key = "a.b.c"``; KeyError when absent."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def apply_overrides(raw: dict[str, Any], overrides: list[str] | dict[str, Any] | None) -> None:
    """Apply ``--set`` style overrides to a raw experiment mapping in place."""
    if not overrides:
        return
    items = overrides.items() if isinstance(overrides, dict) else map(parse_override, overrides)
    for key, value in items:
        set_dotted(raw, key, value)
