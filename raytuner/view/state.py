"""The state of a run as the views show it: one row per trial, the expected work, the clock."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raytuner.trial.status import FINAL_STATUSES, STATUSES


@dataclass
class TrialRow:
    """One trial: its status word, progress, last and best value of the search metric."""

    trial_id: str
    status: str = "pending"
    epoch: int = 0
    max_epochs: int = 0
    value: float | None = None
    best: float | None = None
    best_epoch: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    error_file: str | None = None


@dataclass
class RunView:
    """Everything the live view and ``raytuner status`` draw."""

    name: str
    metric: str
    mode: str
    run_dir: str
    planned_trials: int
    planned_epochs: float
    max_planned_epochs: float
    started_at: float = field(default_factory=time.time)
    #: epochs already trained when this session started (a resumed run), for the time left
    epochs_at_start: int = 0
    finished_s: float | None = None
    trials: dict[str, TrialRow] = field(default_factory=dict)

    # -- reading ------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Trials by status, every word of the vocabulary present (zero or not)."""
        out = dict.fromkeys(STATUSES, 0)
        for row in self.trials.values():
            out[row.status] = out.get(row.status, 0) + 1
        # Trials the search has not created yet wait too.
        out["pending"] += max(0, self.planned_trials - len(self.trials))
        return out

    def total_trials(self) -> int:
        return max(self.planned_trials, len(self.trials))

    def trials_done(self) -> int:
        return sum(1 for row in self.trials.values() if row.status in FINAL_STATUSES)

    def epochs_done(self) -> int:
        return sum(row.epoch for row in self.trials.values())

    def epochs_expected(self) -> float:
        """The scheduler's expected total, never below what is done and, once every trial
        ended, exactly what was done."""
        done = self.epochs_done()
        if self.trials and self.trials_done() >= self.total_trials():
            return float(done)
        return float(min(max(self.planned_epochs, done), max(self.max_planned_epochs, done)))

    def elapsed_s(self, now: float | None = None) -> float:
        if self.finished_s is not None:
            return self.finished_s
        return max(0.0, (time.time() if now is None else now) - self.started_at)

    def seconds_left(self, now: float | None = None) -> float | None:
        """Time left at this session's rate of epochs (None until it has trained one)."""
        if self.finished_s is not None:
            return 0.0
        trained = self.epochs_done() - self.epochs_at_start
        if trained <= 0:
            return None
        rate = trained / max(self.elapsed_s(now), 1e-6)
        return max(0.0, self.epochs_expected() - self.epochs_done()) / rate

    def best(self) -> TrialRow | None:
        """The trial with the best value of the metric so far."""
        scored = [row for row in self.trials.values() if row.best is not None]
        if not scored:
            return None
        pick = max if self.mode == "max" else min
        return pick(scored, key=lambda row: row.best)

    def running(self) -> list[TrialRow]:
        return [row for row in self.trials.values() if row.status == "running"]

    def better(self, value: float, than: float | None) -> bool:
        """True when ``value`` beats ``than`` in the search's direction."""
        if than is None:
            return True
        return value > than if self.mode == "max" else value < than


def rows_from_records(records: Iterable[Mapping[str, Any]], metric: str
                      ) -> dict[str, TrialRow]:
    """Trial rows from a run folder's summary records (:mod:`raytuner.after.summary`)."""
    return {record["trial_id"]: TrialRow(
        trial_id=record["trial_id"], status=record["status"], epoch=record["epochs"],
        max_epochs=record.get("max_epochs") or 0,
        value=(record.get("metrics") or {}).get(metric), best=record.get("best"),
        best_epoch=record.get("best_epoch"), params=dict(record.get("config") or {}),
        error_file=record.get("error_file")) for record in records}


def short_params(params: Mapping[str, Any], limit: int | None = None) -> str:
    """``lr=0.003 batch_size=64 ...``: the last part of each dotted key, 3 significant digits."""
    parts = []
    for key, value in list(params.items())[:limit]:
        text = f"{value:.3g}" if isinstance(value, float) else str(value)
        parts.append(f"{key.rsplit('.', 1)[-1]}={text}")
    return " ".join(parts)


def duration(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
