"""``asha``: Ray's asynchronous successive halving.

Bracket ``s`` has rungs at ``grace * eta**(k+s)`` below ``max_t``. Lower bound of the epochs:
every trial trains to its first rung and one trial to ``max_t`` (the first trial at a rung is
never stopped). Expected: a share ``1/eta`` of the trials passes each rung. Upper bound: no
trial is ever stopped, ``trials * max_t`` (asynchronous halving promises no less).
"""

from __future__ import annotations

import math
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


def asha_rungs(grace: int, max_t: int, eta: float, s: int) -> list[int]:
    """Milestones of ASHA bracket ``s``, ascending (Ray's ``_Bracket`` arithmetic)."""
    count = int(math.log(max_t / grace) / math.log(eta) - s + 1)
    return sorted(grace * eta ** (k + s) for k in range(max(count, 0)))


def asha_epochs(n: int, grace: int, max_t: int, eta: float, brackets: int,
                min_epochs: int | None = None) -> Budget:
    """Lower, expected and upper total epochs of ``n`` trials under ASHA."""
    # Ray assigns a trial to bracket s with probability proportional to e**(rungs_s).
    rungs = [asha_rungs(grace, max_t, eta, s) for s in range(brackets)]
    weights = [math.exp(len(r) - max(len(x) for x in rungs)) for r in rungs]
    expected = 0.0
    for bracket_rungs, weight in zip(rungs, weights, strict=True):
        share = n * weight / sum(weights)
        marks = [m for m in bracket_rungs if m < max_t] + [max_t]
        total, alive, previous = 0.0, share, 0.0
        for k, mark in enumerate(marks):
            total += alive * (min(mark, max_t) - previous)
            previous = min(mark, max_t)
            if k < len(marks) - 1:
                alive /= eta
        expected += total
    first = min(min(r[0] for r in rungs if r) if any(rungs) else max_t, max_t,
                min_epochs or max_t)
    lower = (n - 1) * first + max_t if n else 0
    return Budget(float(lower), max(expected, float(lower)), float(n * max_t))


def asha_plan(trials: int, cfg: SchedulerConfig, epoch_values: list[int], name: str
              ) -> tuple[Budget, list[str]]:
    """:func:`asha_epochs` of ``trials`` trials under ``cfg``, and one line per bracket (named
    ``name``: moasha has the same rungs)."""
    max_t = max(epoch_values)
    grace = min(cfg.grace_period, max_t)
    budget = asha_epochs(trials, grace, max_t, cfg.reduction_factor, cfg.brackets,
                         min(epoch_values))
    details = []
    for s in range(cfg.brackets):
        rungs = ", ".join(f"{m:g}" for m in asha_rungs(grace, max_t, cfg.reduction_factor, s))
        details.append(f"{name} bracket s={s}: rungs at epochs {rungs}")
    return budget, details


@SCHEDULERS.register("asha")
class ASHA(TrialScheduler):
    """Stops a trial at a rung when it is not in the top ``1/reduction_factor`` there."""

    @classmethod
    def check(cls, cfg: SchedulerConfig, longest: int) -> None:
        check_grace_period(cfg, longest, "ASHA")

    @classmethod
    def epochs(cls, trials: int, cfg: SchedulerConfig, epoch_values: list[int]
               ) -> tuple[Budget, list[str]]:
        return asha_plan(trials, cfg, epoch_values, "asha")

    @classmethod
    def build(cls, cfg: SchedulerConfig, max_t: int, space: list[Param] = (),
              search: SearchConfig | None = None) -> Any:
        from ray.tune.schedulers import ASHAScheduler  # deferred: only a run needs Ray

        return ASHAScheduler(time_attr="epoch", max_t=max_t,
                             grace_period=min(cfg.grace_period, max_t),
                             reduction_factor=cfg.reduction_factor, brackets=cfg.brackets)
