"""``hyperband``: Ray's synchronous Hyperband.

Trials fill brackets ``s = 0, 1, ...`` of ``n0(s) = ceil(s_max_1 / (s+1) * eta**s)`` trials
starting at ``r0(s) = max_t / eta**s`` epochs; each halving keeps ``ceil(n / eta)`` trials and
multiplies the epochs by ``eta``. Expected = lower = that simulation; upper = ``trials * max_t``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from raytuner.search._registry import SCHEDULERS, Budget, TrialScheduler

if TYPE_CHECKING:
    from raytuner.config.schema import SchedulerConfig, SearchConfig
    from raytuner.search.domains import Param


def hyperband_epochs(n: int, max_t: int, eta: float) -> tuple[Budget, list[str]]:
    """Total epochs of ``n`` trials under Ray's synchronous Hyperband, and the brackets."""
    s_max_1 = int(round(math.log(max_t) / math.log(eta))) + 1
    total, left, details = 0, n, []
    while left > 0:
        for s in range(s_max_1):
            r0 = int(max_t * eta ** (-s))
            if r0 == 0 or left == 0:
                continue
            n0 = int(math.ceil(s_max_1 / (s + 1) * eta ** s))
            live = placed = min(n0, left)
            left -= live
            work, r, target = live * r0, r0, n0
            for _ in range(s):
                target = int(math.ceil(target / eta))
                live = min(live, target)
                nxt = int(min(r * eta, max_t))
                work += live * (nxt - r)
                r = nxt
            details.append(f"hyperband bracket s={s}: {placed} trial(s) from {r0} epochs,"
                           f" {work} epochs")
            total += work
    return Budget(float(total), float(total), float(n * max_t)), details


@SCHEDULERS.register("hyperband")
class HyperBand(TrialScheduler):
    """Brackets of successive halving, each halving waiting for its whole bracket."""

    restores_trials = True  # a trial waiting for its bracket is paused, then restored

    @classmethod
    def epochs(cls, trials: int, cfg: SchedulerConfig, epoch_values: list[int]
               ) -> tuple[Budget, list[str]]:
        return hyperband_epochs(trials, max(epoch_values), cfg.reduction_factor)

    @classmethod
    def build(cls, cfg: SchedulerConfig, max_t: int, space: list[Param] = (),
              search: SearchConfig | None = None) -> Any:
        from ray.tune.schedulers import HyperBandScheduler  # deferred: only a run needs Ray

        return HyperBandScheduler(time_attr="epoch", max_t=max_t,
                                  reduction_factor=cfg.reduction_factor)
