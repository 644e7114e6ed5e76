"""Early stopping on patience (``train.early_stopping``): end a trial whose search metric has
not improved by ``min_delta`` for ``patience`` epochs."""

from __future__ import annotations

import math
from typing import Any

from raytuner.config.schema import EarlyStoppingConfig


class EarlyStopping:
    """Tracks the best value of one metric; :attr:`stopped` turns true when patience runs out."""

    def __init__(self, cfg: EarlyStoppingConfig, metric: str, mode: str):
        self.patience = cfg.patience
        self.min_delta = cfg.min_delta
        self.metric = metric
        self.mode = mode
        self.best: float | None = None
        self.bad_epochs = 0
        self.stopped = False

    @property
    def enabled(self) -> bool:
        return self.patience is not None

    def update(self, metrics: dict[str, float]) -> bool:
        """Record one epoch's metrics; True when training should stop now."""
        if not self.enabled:
            return False
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            improved = False  # NaN never counts as progress
        elif self.best is None:
            improved = True
        elif self.mode == "max":
            improved = value > self.best + self.min_delta
        else:
            improved = value < self.best - self.min_delta
        if improved:
            self.best, self.bad_epochs = float(value), 0
        else:
            self.bad_epochs += 1
        self.stopped = self.bad_epochs >= self.patience
        return self.stopped

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad_epochs": self.bad_epochs, "stopped": self.stopped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.bad_epochs = int(state["bad_epochs"])
        self.stopped = bool(state["stopped"])
