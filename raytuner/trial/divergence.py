"""Divergence: a trial whose loss became NaN/infinite or exploded stops at once.

Plain Python, no Ray: the training loop raises :class:`Diverged`; the Ray adapter turns it into
one last report that carries ``"diverged": 1.0`` and the worst value of the search metric, then
returns normally, so the scheduler and the searcher see a bad result rather than an error (an
error would burn ``failure.max_retries`` retries on a configuration that diverges every time).
"""

from __future__ import annotations

import math
from typing import Any

from raytuner.config.metrics import is_share

#: What a diverged trial reports for a search metric without a known bound. Finite on purpose:
#: HyperOpt's TPE needs a number to rank, and JSON readers (result.json, summary.json,
#: TensorBoard's HParams) choke on NaN/inf. Larger than any real loss of a classifier.
UNBOUNDED_WORST = 1.0e9

DIVERGED_KEY = "diverged"


class Diverged(Exception):
    """The training loss is NaN/infinite or grew beyond ``train.divergence_factor`` x its best.

    ``metrics`` is what is known of the epoch that diverged (always with its 1-based ``epoch``).
    """

    def __init__(self, reason: str, metrics: dict[str, float]):
        super().__init__(reason)
        self.reason = reason
        self.metrics = metrics


def check_batch_loss(loss: float, epoch: int) -> None:
    """Raise :class:`Diverged` as soon as one batch's loss is NaN or infinite (``epoch`` is the
    1-based epoch in progress): every later step would only spread NaN through the weights."""
    if not math.isfinite(loss):
        raise Diverged(f"training loss became {loss} during epoch {epoch}",
                       {"epoch": epoch, "train_loss": float("nan")})


def check_epoch(metrics: dict[str, float], history: list[dict[str, float]],
                factor: float | None) -> None:
    """Raise :class:`Diverged` when this epoch's losses are non-finite, or when its training
    loss exceeds ``factor`` x the best training loss of the earlier epochs *and* the first
    epoch's loss (so a spike of a loss already near zero, e.g. 0.002 -> 0.03, is not taken for
    divergence). ``history`` holds the earlier epochs (the current one may be its last item)."""
    epoch = int(metrics.get("epoch", len(history)))
    for key in ("train_loss", "val_loss"):
        value = metrics.get(key)
        if value is not None and not math.isfinite(value):
            raise Diverged(f"{key} is {value} at epoch {epoch}", dict(metrics))
    if factor is None:
        return
    earlier = [m["train_loss"] for m in history if m.get("epoch", 0) < epoch
               and "train_loss" in m and math.isfinite(m["train_loss"])]
    loss = metrics.get("train_loss")
    if not earlier or loss is None:
        return
    best = min(earlier)
    if loss > factor * best and loss > earlier[0]:
        raise Diverged(f"train_loss {loss:.4g} at epoch {epoch} is more than "
                       f"{factor:g} x its best {best:.4g} (train.divergence_factor)",
                       dict(metrics))


def worst_value(metric: str, mode: str) -> float:
    """The worst value of ``metric`` for the searcher: a share's bound (0.0 when maximized,
    1.0 when minimized; shares come from the metric catalogue), else -/+
    :data:`UNBOUNDED_WORST`."""
    bounded = is_share(metric)
    if mode == "max":
        return 0.0 if bounded else -UNBOUNDED_WORST
    return 1.0 if bounded else UNBOUNDED_WORST


def diverged_result(exc: Diverged, metric: str, mode: str) -> dict[str, Any]:
    """The last result a diverged trial reports: the epoch's metrics (non-finite ones as NaN),
    ``diverged: 1.0`` and the worst value of the search metric."""
    result = {k: (v if isinstance(v, (int, float)) else float("nan"))
              for k, v in exc.metrics.items()}
    result[metric] = worst_value(metric, mode)
    result[DIVERGED_KEY] = 1.0
    return result
