"""Driver-side epoch ledger: records every reported epoch in arrival order and, given a budget,
stops the experiment once that many epochs have been reported.

One object serves as both the Tune ``Stopper`` (it sees every result, before the scheduler) and
a ``Callback`` (for trial start times). Ray keeps the very objects passed in ``RunConfig``
(a shallow copy of the config), so the benchmark reads the ledger after the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ray.tune import Callback, Stopper


@dataclass
class EpochRecord:
    """One reported epoch: seconds since the ledger's start, trial, epoch, metric value."""

    t: float
    trial_id: str
    epoch: int
    value: float
    result: dict[str, Any]


class EpochLedger(Callback, Stopper):
    """Counts reported epochs (one result = one epoch, the raytuner contract).

    With ``budget`` set, the experiment stops after exactly ``budget`` counted epochs: results
    that arrive later (epochs that other running trials had already trained) are counted in
    ``overrun`` and left out of every figure, so each method is judged on the same budget.
    """

    def __init__(self, metric: str, budget: int | None = None, keep_results: bool = False):
        self.metric = metric
        self.budget = budget
        self.keep_results = keep_results
        self.t0 = time.monotonic()
        self.records: list[EpochRecord] = []
        self.overrun = 0
        self.trial_starts: dict[str, float] = {}
        self._seen: set[tuple[str, int]] = set()

    def restart_clock(self) -> None:
        """Measure times from now (call right before the run starts)."""
        self.t0 = time.monotonic()

    # -- Stopper --------------------------------------------------------------------------

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if "epoch" not in result:
            return False
        key = (trial_id, int(result["epoch"]))
        if key in self._seen:
            return False  # Tune repeats a trial's last result when it ends: not an epoch
        self._seen.add(key)
        if self.budget is not None and len(self.records) >= self.budget:
            self.overrun += 1
            return True
        self.records.append(EpochRecord(
            time.monotonic() - self.t0, trial_id, int(result["epoch"]),
            float(result[self.metric]), dict(result) if self.keep_results else {}))
        return False

    def stop_all(self) -> bool:
        return self.budget is not None and len(self.records) >= self.budget

    # -- Callback -------------------------------------------------------------------------

    def on_trial_start(self, iteration: int, trials: list, trial, **info: Any) -> None:
        self.trial_starts.setdefault(trial.trial_id, time.monotonic() - self.t0)

    # -- Reading --------------------------------------------------------------------------

    @property
    def epochs(self) -> int:
        return len(self.records)

    def best_so_far(self, mode: str = "max") -> tuple[list[float], list[int], list[float]]:
        """(times, epochs consumed, best value so far) after every counted epoch."""
        pick = max if mode == "max" else min
        times, counts, best = [], [], []
        current: float | None = None
        for i, rec in enumerate(self.records, start=1):
            current = rec.value if current is None else pick(current, rec.value)
            times.append(rec.t)
            counts.append(i)
            best.append(current)
        return times, counts, best


def first_reaching(times: list[float], counts: list[int], best: list[float], target: float
                   ) -> tuple[int | None, float | None]:
    """(epochs, seconds) at which best-so-far first reaches ``target`` (None, None if never)."""
    for t, n, b in zip(times, counts, best, strict=True):
        if b >= target:
            return n, t
    return None, None


def best_at(counts: list[int], best: list[float], epochs: int) -> float | None:
    """Best-so-far after ``epochs`` counted epochs (None before the first)."""
    value = None
    for n, b in zip(counts, best, strict=True):
        if n > epochs:
            break
        value = b
    return value
