"""``median``: Ray's median stopping rule.

After ``grace_period`` epochs, a trial whose best result so far is worse than the median of
the other trials' running means at the same epoch is stopped, once ``min_samples_required``
trials have reached that epoch. Lower bound of the epochs: the first ``min_samples_required``
trials cannot be stopped and train to the end, every other trial stops at ``grace_period``;
upper bound: none is stopped. Expected: half the other trials stop at the grace period.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raytuner.search._registry import (
    SCHEDULERS,
    Budget,
    TrialScheduler,
    check_grace_period,
)

if TYPE_CHECKING:
    from raytuner.config.schema import SchedulerConfig, SearchConfig
    from raytuner.search.domains import Param


@SCHEDULERS.register("median")
class Median(TrialScheduler):
    """Stops a trial that falls below the median of the others at the same epoch."""

    @classmethod
    def check(cls, cfg: SchedulerConfig, longest: int) -> None:
        check_grace_period(cfg, longest, "the median rule")

    @classmethod
    def epochs(cls, trials: int, cfg: SchedulerConfig, epoch_values: list[int]
               ) -> tuple[Budget, list[str]]:
        max_t = max(epoch_values)
        grace = min(cfg.grace_period, max_t)
        safe = min(trials, cfg.min_samples_required)
        lower = safe * max_t + (trials - safe) * grace
        upper = trials * max_t
        return Budget(float(lower), (lower + upper) / 2, float(upper)), [
            f"median: after {grace} epoch(s), a trial below the median of the others stops "
            f"(once {cfg.min_samples_required} trials have reached that epoch)"]

    @classmethod
    def build(cls, cfg: SchedulerConfig, max_t: int, space: list[Param] = (),
              search: SearchConfig | None = None) -> Any:
        from ray.tune.schedulers import MedianStoppingRule  # deferred: only a run needs Ray

        return MedianStoppingRule(time_attr="epoch", grace_period=cfg.grace_period,
                                  min_samples_required=cfg.min_samples_required)
