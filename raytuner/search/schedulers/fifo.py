"""``fifo``: no early stopping; every trial trains ``train.epochs``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raytuner.search._registry import SCHEDULERS, Budget, TrialScheduler

if TYPE_CHECKING:
    from raytuner.config.schema import SchedulerConfig, SearchConfig
    from raytuner.search.domains import Param


@SCHEDULERS.register("fifo")
class FIFO(TrialScheduler):
    """First in, first out: trials run to the end (exact; a range when ``train.epochs`` is
    searched)."""

    multi_objective = True  # it stops no trial: any number of objectives

    @classmethod
    def epochs(cls, trials: int, cfg: SchedulerConfig, epoch_values: list[int]
               ) -> tuple[Budget, list[str]]:
        mean = sum(epoch_values) / len(epoch_values)
        return Budget(trials * min(epoch_values), trials * mean, trials * max(epoch_values)), []

    @classmethod
    def build(cls, cfg: SchedulerConfig, max_t: int, space: list[Param] = (),
              search: SearchConfig | None = None) -> Any:
        from ray.tune.schedulers import FIFOScheduler  # deferred: only a run needs Ray

        return FIFOScheduler()
