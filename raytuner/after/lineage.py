"""The schedule of hyperparameters behind a trial's weights, read from its lineage.

Under ``pbt``/``pb2`` a trial record's ``lineage`` lists the exploits its final weights went
through (``{"epoch": E, "from_trial": ID, "changes": {key: [old, new]}}``, oldest first; E
epochs were trained when the settings changed). :func:`schedule` turns that into, per changed
key, the value it had from which epoch on: what ``raytuner best`` prints and ``raytuner report``
plots.
"""

from __future__ import annotations

from typing import Any

#: ``{key: [(first epoch, value), ...]}``, epochs 1-based, ascending
Schedule = dict[str, list[tuple[int, Any]]]


def schedule(record: dict[str, Any]) -> Schedule:
    """Per key a lineage changed: ``(first epoch, value)`` steps, from epoch 1 on."""
    out: Schedule = {}
    for entry in record.get("lineage") or []:
        start = int(entry["epoch"]) + 1
        for key, (old, new) in entry["changes"].items():
            # a key first changed here had its old value from epoch 1; a copy made at the
            # same epoch as an earlier one replaces it
            steps = [s for s in out.get(key, [(1, old)]) if s[0] < start] or [(1, old)]
            out[key] = [*steps, (start, new)]
    return {key: _merged(steps) for key, steps in out.items()}


def _merged(steps: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Steps with consecutive equal values (and same-epoch overrides) folded together."""
    merged: list[tuple[int, Any]] = []
    for epoch, value in steps:
        if merged and merged[-1][0] == epoch:
            merged[-1] = (epoch, value)
        elif not merged or merged[-1][1] != value:
            merged.append((epoch, value))
    return merged


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def schedule_lines(record: dict[str, Any]) -> list[str]:
    """The schedule as lines for the terminal (none when the trial was never exploited)."""
    lineage = record.get("lineage") or []
    if not lineage:
        return []
    donors = ", ".join(f"{e['from_trial']} at epoch {e['epoch']}" for e in lineage)
    lines = [f"hyperparameter schedule ({len(lineage)} exploit(s): copied {donors}):"]
    for key, steps in schedule(record).items():
        lines.append(f"  {key}: " + ", ".join(f"{_fmt(v)} from epoch {e}" for e, v in steps))
    return lines
