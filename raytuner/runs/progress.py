"""A compact status table on screen, refreshed every few seconds, instead of Ray's boxes."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ray.tune import Callback

from raytuner.search.space import flatten
from raytuner.text import render_table


class ProgressTable(Callback):
    """Prints one table of all trials every ``interval_s`` seconds and at the end."""

    def __init__(self, metric: str, mode: str, param_paths: list[str], *,
                 interval_s: float = 5.0, max_rows: int = 20, stream: TextIO | None = None):
        self.metric, self.mode = metric, mode
        self.params = param_paths[:5]
        self.interval_s = interval_s
        self.max_rows = max_rows
        # Resolved when printing: the tuner pickles its callbacks, and streams do not pickle.
        self.stream = stream
        self._last = 0.0
        self._start = time.monotonic()

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            self.print_table(trials)

    def on_experiment_end(self, trials: list, **info) -> None:
        self.print_table(trials)

    def print_table(self, trials: list) -> None:
        counts: dict[str, int] = {}
        for trial in trials:
            counts[trial.status] = counts.get(trial.status, 0) + 1
        status = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
        elapsed = time.monotonic() - self._start
        header = ["trial", "status", *self.params, "epoch", self.metric]
        rows = []
        for trial in self._ordered(trials)[: self.max_rows]:
            result = trial.last_result or {}
            flat = flatten(trial.config)
            rows.append([trial.trial_id, trial.status.lower(),
                         *(flat.get(p, "") for p in self.params),
                         result.get("epoch", 0), result.get(self.metric, "")])
        more = len(trials) - len(rows)
        text = render_table(rows, header)
        tail = f"\n... {more} more trial(s)" if more > 0 else ""
        print(f"\n== {elapsed:.0f}s: {len(trials)} trials ({status})\n{text}{tail}",
              file=self.stream or sys.stdout, flush=True)

    def _ordered(self, trials: list) -> list:
        sign = -1.0 if self.mode == "max" else 1.0

        def key(trial) -> tuple:
            value = (trial.last_result or {}).get(self.metric)
            return (value is None, sign * value if value is not None else 0.0)

        return sorted(trials, key=key)
