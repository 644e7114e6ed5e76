"""Strict pydantic sections, and pydantic's errors turned into one clear line."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from raytuner.errors import ConfigError


class Strict(BaseModel):
    """Base of every section: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _section_fields(cls: type[BaseModel], loc: tuple) -> list[str] | None:
    """Allowed keys of the section at ``loc`` inside ``cls`` (None when not a model)."""
    current: Any = cls
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return None
        annotation = fields[part].annotation
        current = annotation if isinstance(annotation, type) else None
        if current is None:
            return None
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else None


def _describe_error(cls: type[BaseModel], error: dict, prefix: str) -> tuple[str, str]:
    """(key path, message) for one pydantic error."""
    loc = tuple(error["loc"])
    path = ""
    for part in ((prefix,) if prefix else ()) + loc:  # list items as key[i], as YAML users say
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _section_fields(cls, loc[:-1]) or []
        key = str(loc[-1])
        message = f"unknown key {key!r}"
        close = difflib.get_close_matches(key, allowed, n=1)
        # A key cut short ("grace") means the key it starts (grace_period), not the closest
        # spelling (difflib would say "brackets").
        close = [k for k in allowed if k.startswith(key)][:1] or close
        if close:
            message += f" (did you mean {close[0]!r}?)"
        if allowed:
            message += f"; allowed keys: {', '.join(allowed)}"
        return path, message
    if kind == "missing":
        return path, "required key is missing"
    given = error.get("input")
    message = error["msg"]
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        message = f"unknown value; expected one of: {expected.replace(' or ', ', ')}"
    return path, f"{message} (got {given!r})"


def validate_section(cls: type[BaseModel], data: Any, *, path: str = "",
                     source: str | None = None) -> BaseModel:
    """Validate ``data`` with the pydantic model ``cls``; the first error becomes a ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of keys to values, got {type(data).__name__} "
                          f"{data!r}", source=source, path=path or None)
    try:
        return cls.model_validate(data)
    except ConfigError as exc:  # raised by a section's own validator: it names the key
        if exc.source is None and source is not None:
            raise ConfigError(str(exc), source=source) from None
        raise
    except ValidationError as exc:
        errors = exc.errors()
        key_path, message = _describe_error(cls, errors[0], path)
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem(s))"
        raise ConfigError(message, source=source, path=key_path or None) from None
