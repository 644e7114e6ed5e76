"""The registries of search algorithms and trial schedulers, and what an entry provides.

A built-in or a user's algorithm is a class with the classmethods of :class:`SearchAlgorithm`
(or :class:`TrialScheduler`), registered under its YAML name; the schema takes
``search.algorithm`` and ``search.scheduler.name`` from these registries, validation calls the
checks, ``raytuner plan`` the arithmetic and the run the ``build``. Adding a scheduler is one
module in ``search/schedulers/`` with one ``@SCHEDULERS.register(name)``.

Section types are imported for type checkers only: the schema imports this module to learn
the names, so this module must not import the schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from raytuner.errors import ConfigError
from raytuner.registry import Registry
from raytuner.search.domains import Param

if TYPE_CHECKING:
    from raytuner.config.schema import SchedulerConfig, SearchConfig


@dataclass(frozen=True)
class Budget:
    """Lower, expected and upper values of one quantity."""

    lower: float
    expected: float
    upper: float


@dataclass
class WarmPoint:
    """One earlier trial that fits the new space: its params there and its result."""

    trial_id: str
    params: dict[str, Any]
    reward: float


class SearchAlgorithm:
    """A search algorithm (``search.algorithm``): checks, trial count, and the Ray searcher."""

    #: whether it learns from results, so that ``search.warm_start`` applies
    learns_from_results = False
    #: whether it can search ``search.objectives`` (several metrics at once)
    multi_objective = False

    @classmethod
    def check_param(cls, param: Param, where: str) -> None:
        """ConfigError when the algorithm cannot search ``param``."""

    @classmethod
    def check_space(cls, space: list[Param]) -> None:
        """ConfigError when the algorithm cannot search ``space`` as a whole."""

    @classmethod
    def count_trials(cls, space: list[Param], num_samples: int) -> int:
        """Trials it creates: ``num_samples``, times every value of each ``grid`` domain (Ray
        expands a grid domain of any search into all of its values)."""
        for param in space:
            if param.kind == "grid":
                num_samples *= len(param.options)
        return num_samples

    @classmethod
    def build(cls, search: SearchConfig, space: list[Param], *, seed: int, max_concurrent: int,
              warm: Sequence[WarmPoint] = ()) -> tuple[Any, dict[str, Any]]:
        """``(Ray search algorithm, Ray param_space)``."""
        raise NotImplementedError


class TrialScheduler:
    """A trial scheduler (``search.scheduler``): checks, epoch arithmetic, the Ray scheduler.
    Time is counted in epochs; ``max_t`` is the most epochs a trial can train."""

    #: True when the scheduler pauses trials or restarts them from a checkpoint it picks
    #: (hyperband's pause, PBT's exploit): those need a checkpoint at every epoch
    restores_trials: bool = False
    #: whether it changes running trials' settings, copying checkpoints between trials (pbt)
    population = False
    #: whether it can rank trials by ``search.objectives`` (several metrics at once)
    multi_objective = False

    @classmethod
    def check(cls, cfg: SchedulerConfig, longest: int) -> None:
        """ConfigError when ``cfg`` cannot work with trials of at most ``longest`` epochs."""

    @classmethod
    def check_search(cls, search: SearchConfig, space: list[Param], *, learns: bool,
                     longest: int) -> None:
        """ConfigError when the scheduler cannot run this search: its ``space``, an algorithm
        that ``learns`` from results, trials of at most ``longest`` epochs."""

    @classmethod
    def epochs(cls, trials: int, cfg: SchedulerConfig, epoch_values: list[int]
               ) -> tuple[Budget, list[str]]:
        """Total training epochs of ``trials`` trials (``epoch_values``: the values
        ``train.epochs`` can take), and lines that explain the figure."""
        raise NotImplementedError

    @classmethod
    def build(cls, cfg: SchedulerConfig, max_t: int, space: list[Param] = (),
              search: SearchConfig | None = None) -> Any:
        """The Ray Tune trial scheduler (``space``: the parsed search space; ``search``: the
        search section, whose ``goals`` a multi-objective scheduler ranks by)."""
        raise NotImplementedError


def check_grace_period(cfg: SchedulerConfig, longest: int, rule: str) -> None:
    """ConfigError when ``grace_period`` is longer than the longest trial: ``rule`` (a
    stopping scheduler) could then never stop a trial early."""
    if cfg.grace_period > longest:
        raise ConfigError(f"grace_period {cfg.grace_period} is longer than the longest "
                          f"trial ({longest} epochs, train.epochs): {rule} could never stop a "
                          f"trial early; use at most {longest}, or scheduler name fifo",
                          path="search.scheduler.grace_period")


SEARCHERS: Registry[type[SearchAlgorithm]] = Registry("search algorithm")
SCHEDULERS: Registry[type[TrialScheduler]] = Registry("scheduler")
