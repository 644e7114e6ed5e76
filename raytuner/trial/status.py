"""The status word of a trial: one rule for the summary, the TensorBoard view and the report.

``completed`` (trained every epoch it could), ``stopped`` (early, by the scheduler or early
stopping), ``errored`` (retries exhausted), ``diverged`` (loss NaN/infinite or exploded), else
``running`` or ``pending`` for a trial that has not ended (a trial a scheduler paused waits to
continue: pending). The live view, the event lines, ``status``, the summary, the report and
TensorBoard all use these words, in the order of :data:`STATUSES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raytuner.trial.divergence import DIVERGED_KEY

#: statuses of trials that ended (their results are final)
FINAL_STATUSES = ("completed", "stopped", "errored", "diverged")
#: every status word, in the order counts are shown
STATUSES = ("pending", "running", *FINAL_STATUSES)


def trial_status(ray_status: str, last_result: Mapping[str, Any] | None, max_epochs: int) -> str:
    """Status word of a trial from Ray's status, its last result and the epochs it may train.

    A trial that trained ``max_epochs`` is completed whatever Ray says: Hyperband can leave
    one PAUSED at ``max_t``, and it has trained every epoch all the same.
    """
    result = last_result or {}
    if result.get(DIVERGED_KEY):  # the marker of the last report of a diverged trial
        return "diverged"
    if ray_status == "ERROR":
        return "errored"
    if int(result.get("epoch") or 0) >= max_epochs:
        return "completed"
    if ray_status == "TERMINATED":
        return "stopped"
    if ray_status == "PENDING" and int(result.get("epoch") or 0) > 0:
        # Tune's saved state of a live run can predate the trial's start by a snapshot, while
        # its results are already on disk: a trial that has reported is running.
        return "running"
    if ray_status == "RUNNING":
        return "running"
    return "pending"  # PENDING, or PAUSED by a scheduler (Hyperband, PBT) until it continues


def status_counts(statuses: list[str]) -> dict[str, int]:
    """``{status: number of trials}`` in the order of :data:`STATUSES`, zeros left out."""
    return {s: n for s in STATUSES if (n := statuses.count(s))}


def max_epochs_of(params: Mapping[str, Any], default: int) -> int:
    """The epochs a trial with sampled ``params`` may train (``train.epochs`` may be searched)."""
    return int(params.get("train.epochs", default))
