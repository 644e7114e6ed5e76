"""Optuna's samplers through Ray's ``OptunaSearch``: TPE for one or several objectives,
NSGA-II for several, seeded with ``points_to_evaluate`` and warm-start points.

The space goes to Optuna define-by-run (:mod:`raytuner.search.optuna_space`: conditional
branches suggested only when their option is chosen; the config Tune hands the trainable is
nested exactly as a random search's). Seeded points are enqueued in Optuna's names (Optuna
runs them first, in order). Warm-start results go in as finished trials of the study before
Ray opens it, so TPE models them from the first suggestion and they count toward
``n_initial_points``; only with one objective, as an earlier run's results rank by one metric.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from raytuner.errors import ConfigError
from raytuner.search._registry import SEARCHERS, WarmPoint
from raytuner.search.optuna_space import OptunaSpace, optuna_point
from raytuner.search.searchers.basic import ModelBasedSearch
from raytuner.search.space import Param

if TYPE_CHECKING:
    from raytuner.config.schema import SearchConfig

#: the name of the Optuna study (Ray's default name, given explicitly for the warm study)
STUDY_NAME = "optuna"


@SEARCHERS.register("optuna")
class OptunaTPE(ModelBasedSearch):
    """Optuna's TPE (after ``n_initial_points`` random trials) or NSGA-II (``sampler``)."""

    multi_objective = True
    label = "optuna"

    @classmethod
    def build_model(cls, search: SearchConfig, space: list[Param], *, seed: int,
                    max_concurrent: int, warm: Sequence[WarmPoint] = ()
                    ) -> tuple[Any, dict[str, Any]]:
        # deferred: Ray is heavy, and the module imports it at its top
        from raytuner.search.searchers._optuna_search import ConfigOptunaSearch

        if search.multi_objective:
            metric: Any = [m for m, _ in search.goals]
            mode: Any = [d for _, d in search.goals]
        else:
            metric, mode = search.metric, search.mode
        points = [{name: value for name, (value, _) in
                   optuna_point(space, p, where=f"search.points_to_evaluate[{i}]").items()}
                  for i, p in enumerate(search.points_to_evaluate)]
        storage = warm_storage(space, list(warm), search) if warm else None
        sampler = make_sampler(search, seed=seed, parallel=max_concurrent > 1,
                               conditional=any(o.subspace for p in space for o in p.options))
        # A Searcher: Tune wraps it in a ConcurrencyLimiter of max_concurrent_trials, as it
        # does HyperOpt's; max_concurrent only tells TPE whether trials run side by side.
        searcher = ConfigOptunaSearch(
            space=OptunaSpace(space), metric=metric, mode=mode,
            points_to_evaluate=points or None, sampler=sampler, storage=storage,
            study_name=STUDY_NAME)
        return searcher, {}


def make_sampler(search: SearchConfig, *, seed: int, parallel: bool, conditional: bool) -> Any:
    """The seeded Optuna sampler of ``search.sampler``.

    TPE: multivariate for one objective (Optuna 5's own default; grouped by branch in a
    conditional space, so a branch's keys are modelled together), with the constant liar when
    trials run in parallel (a running trial counts as a bad result, so parallel proposals
    spread out). NSGA-II: a population of ``n_initial_points`` (at least 2), its first
    generation drawn at random.
    """
    import optuna

    # deferred: the module imports Ray at its top
    from raytuner.search.searchers._optuna_search import PicklableNSGAIISampler

    with warnings.catch_warnings():  # Optuna marks group (and in 4.x more) experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if search.sampler == "nsga2":
            return PicklableNSGAIISampler(seed=seed,
                                          population_size=max(2, search.n_initial_points))
        multivariate = not search.multi_objective
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=search.n_initial_points, multivariate=multivariate,
            group=multivariate and conditional, constant_liar=parallel)


def warm_storage(space: list[Param], warm: list[WarmPoint], search: SearchConfig) -> Any:
    """An in-memory Optuna storage whose study (:data:`STUDY_NAME`) holds the ``warm`` points
    as finished trials with their results; Ray's ``OptunaSearch`` opens that study.

    Ray's own ``evaluated_rewards`` cannot serve: it refuses a define-by-run space.
    """
    if search.multi_objective:  # validation refuses it: a warm point has one result
        raise ConfigError("search.warm_start seeds one objective; search.objectives lists "
                          f"{len(search.goals)}", path="search.warm_start")
    import optuna

    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME,
                                direction="maximize" if search.mode == "max" else "minimize")
    for point in warm:
        params = optuna_point(space, point.params, where="search.warm_start")
        study.add_trial(optuna.trial.create_trial(
            params={name: value for name, (value, _) in params.items()},
            distributions={name: dist for name, (_, dist) in params.items()},
            value=point.reward, user_attrs={"warm_start_trial": point.trial_id}))
    return storage
