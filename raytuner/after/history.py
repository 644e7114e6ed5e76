"""Every epoch a trial reported, read back from its ``result.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from raytuner.runs.folder import RESULT_FILE


def read_history(trial_path: str | Path) -> list[dict[str, Any]]:
    """Every result a trial reported, in order, from its ``result.json`` (JSON lines; a line
    being written by a running trial is skipped)."""
    path = Path(trial_path) / RESULT_FILE
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "epoch" in row:
            rows.append(row)
    # A resumed trial may repeat its last reported epoch: keep one row per epoch, the last.
    by_epoch = {int(r["epoch"]): r for r in rows}
    return [by_epoch[e] for e in sorted(by_epoch)]


def histories(summary: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """``{trial_id: history}`` for every trial of the run."""
    return {t["trial_id"]: read_history(t["path"]) for t in summary["trials"] if t.get("path")}
