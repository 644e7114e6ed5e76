"""The trials and training epochs a search is expected to run: what ``raytuner plan`` prints
and what the live view measures progress against."""

from __future__ import annotations

from raytuner.config.schema import Experiment
from raytuner.search._registry import Budget
from raytuner.search.schedulers import SCHEDULERS
from raytuner.search.searchers import SEARCHERS
from raytuner.search.space import all_params


def epoch_values(exp: Experiment) -> list[int]:
    """The values ``train.epochs`` can take (it may itself be searched)."""
    values = [v for p in all_params(exp.space) if p.path == "train.epochs"
              for v in (p.finite_values() or p.representative_values())]
    return [int(v) for v in values] or [exp.train.epochs]


def expected_work(exp: Experiment) -> tuple[int, Budget, list[str]]:
    """``(trials, training epochs, lines explaining the figure)`` of the search: trials from
    the search algorithm, epochs from the scheduler's arithmetic (e.g. ASHA's rungs)."""
    trials = SEARCHERS.get(exp.search.algorithm).factory.count_trials(
        exp.space, exp.search.num_samples)
    cfg = exp.search.scheduler
    epochs, details = SCHEDULERS.get(cfg.name).factory.epochs(trials, cfg, epoch_values(exp))
    return trials, epochs, details
