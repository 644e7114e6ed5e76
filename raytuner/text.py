"""Plain-text tables for the terminal (status table, summary, plan, report)."""

from __future__ import annotations

from typing import Any


def format_value(value: Any) -> str:
    """Short, aligned text for a table cell."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_table(rows: list[list[Any]], header: list[str]) -> str:
    """A plain-text table with a header line."""
    cells = [[format_value(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)
