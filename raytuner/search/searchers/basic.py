"""Random and grid search (Ray's variant generator over the translated space), and the base of
the searches that learn from results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from raytuner.errors import ConfigError
from raytuner.search._registry import SEARCHERS, SearchAlgorithm, WarmPoint
from raytuner.search.space import Param, grid_size, nest_point, to_ray

if TYPE_CHECKING:
    from raytuner.config.schema import SearchConfig


@SEARCHERS.register("random")
class RandomSearch(SearchAlgorithm):
    """Independent random samples (``grid`` domains enumerated, as Ray does)."""

    grid = False
    multi_objective = True  # it ignores results: any number of objectives

    @classmethod
    def build(cls, search: SearchConfig, space: list[Param], *, seed: int, max_concurrent: int,
              warm: Sequence[WarmPoint] = ()) -> tuple[Any, dict[str, Any]]:
        from ray.tune.search import BasicVariantGenerator  # deferred: only a run needs Ray

        points = [nest_point(space, p, where=f"search.points_to_evaluate[{i}]")
                  for i, p in enumerate(search.points_to_evaluate)]
        # BasicVariantGenerator is not a Searcher: Tune ignores max_concurrent_trials for it,
        # so the limit is passed here.
        searcher = BasicVariantGenerator(points_to_evaluate=points or None, random_state=seed,
                                         max_concurrent=max_concurrent)
        return searcher, to_ray(space, grid=cls.grid)


@SEARCHERS.register("grid")
class GridSearch(RandomSearch):
    """Every combination of finite domains, ``search.num_samples`` times."""

    grid = True

    @classmethod
    def check_param(cls, param: Param, where: str) -> None:
        if param.finite_values() is None:
            raise ConfigError(f"search.algorithm grid needs finite domains; {param.kind} is "
                              "continuous (use grid, choice, or int)", path=where)

    @classmethod
    def check_space(cls, space: list[Param]) -> None:
        if not space:
            raise ConfigError("search.algorithm grid needs at least one searched key",
                              path="search.space")

    @classmethod
    def count_trials(cls, space: list[Param], num_samples: int) -> int:
        return grid_size(space) * num_samples


class ModelBasedSearch(SearchAlgorithm):
    """Base of a search that models the results so far (TPE): it samples every domain, so
    ``grid`` values are refused, and with nothing to search it is random search (repeating
    the base config). A subclass sets :attr:`label` and implements :meth:`build_model`."""

    learns_from_results = True
    #: the algorithm's name in messages
    label = ""

    @classmethod
    def check_param(cls, param: Param, where: str) -> None:
        if param.kind == "grid":
            raise ConfigError("grid values need search.algorithm random or grid; "
                              f"use choice with {cls.label}", path=where)

    @classmethod
    def build(cls, search: SearchConfig, space: list[Param], *, seed: int, max_concurrent: int,
              warm: Sequence[WarmPoint] = ()) -> tuple[Any, dict[str, Any]]:
        if not space:
            return RandomSearch.build(search, space, seed=seed, max_concurrent=max_concurrent)
        return cls.build_model(search, space, seed=seed, max_concurrent=max_concurrent,
                               warm=warm)

    @classmethod
    def build_model(cls, search: SearchConfig, space: list[Param], *, seed: int,
                    max_concurrent: int, warm: Sequence[WarmPoint] = ()
                    ) -> tuple[Any, dict[str, Any]]:
        """``(Ray searcher, Ray param_space)`` for a non-empty ``space``."""
        raise NotImplementedError
