"""``moasha``: multi-objective asynchronous successive halving (Schmucker et al., 2021).

ASHA's brackets, rungs and settings (``grace_period``, ``reduction_factor``, ``brackets``,
``max_t`` = the longest trial), with the promotion at a rung decided by non-dominated sorting
of the ``search.objectives`` vectors recorded there: a trial continues when its Pareto rank
(front, then crowding distance) among the ``n`` trials judged at that rung so far, itself
included, is within the first ``ceil(n / reduction_factor)``. With one objective it is
successive halving by that metric. The epoch arithmetic of ``raytuner plan`` is ASHA's: the
same rungs, the first trial at a rung is never stopped, and a share ``1/eta`` passes each rung
in expectation. The Ray scheduler is :mod:`raytuner.search.schedulers._moasha_ray`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raytuner.search._registry import (
    SCHEDULERS,
    Budget,
    TrialScheduler,
    check_grace_period,
)
from raytuner.search.schedulers.asha import asha_plan

if TYPE_CHECKING:
    from raytuner.config.schema import SchedulerConfig, SearchConfig
    from raytuner.search.domains import Param


@SCHEDULERS.register("moasha")
class MOASHA(TrialScheduler):
    """Stops a trial at a rung when its Pareto rank there is not in the top
    ``1/reduction_factor``."""

    multi_objective = True

    @classmethod
    def check(cls, cfg: SchedulerConfig, longest: int) -> None:
        check_grace_period(cfg, longest, "MOASHA")

    @classmethod
    def epochs(cls, trials: int, cfg: SchedulerConfig, epoch_values: list[int]
               ) -> tuple[Budget, list[str]]:
        return asha_plan(trials, cfg, epoch_values, "moasha")

    @classmethod
    def build(cls, cfg: SchedulerConfig, max_t: int, space: list[Param] = (),
              search: SearchConfig | None = None) -> Any:
        # deferred: only a run needs Ray
        from raytuner.search.schedulers._moasha_ray import MOASHAScheduler

        # Without the search section the one metric and mode come from Tune's TuneConfig.
        return MOASHAScheduler(search.goals if search is not None else None,
                               time_attr="epoch", max_t=max_t,
                               grace_period=min(cfg.grace_period, max_t),
                               reduction_factor=cfg.reduction_factor, brackets=cfg.brackets)
