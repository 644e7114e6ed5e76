"""What went wrong in a run, in a few lines: errored trials with where each traceback is, and
diverged trials, so a user never has to dig through Ray's folders to find out."""

from __future__ import annotations

from typing import Any


def problem_lines(summary: dict[str, Any]) -> list[str]:
    """Lines naming every errored trial (with its error file) and every diverged trial."""
    trials = summary.get("trials", [])
    errored = [t for t in trials if t.get("status") == "errored"]
    diverged = [t for t in trials if t.get("status") == "diverged"]
    lines: list[str] = []
    if errored:
        lines.append(f"\n{len(errored)} errored trial(s) (retries exhausted; traceback in the "
                     "error file):")
        for trial in errored:
            where = trial.get("error_file") or f"{trial.get('path')} (no error file)"
            lines.append(f"  {trial['trial_id']} after {trial.get('epochs', 0)} epoch(s): "
                         f"{where}")
    if diverged:
        lines.append(f"\n{len(diverged)} diverged trial(s) (loss NaN/infinite or exploded; "
                     "reported to the search as its worst result):")
        for trial in diverged:
            config = ", ".join(f"{k}={v}" for k, v in trial.get("config", {}).items())
            lines.append(f"  {trial['trial_id']} at epoch {trial.get('epochs', 0)}: {config}")
    return lines
