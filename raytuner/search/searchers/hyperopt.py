"""HyperOpt's TPE (Bayesian) search, seeded with ``points_to_evaluate`` and warm-start points.

Seeded points go into HyperOpt's own ``Trials`` as ``{label: value}`` documents (choices as
indices, labels of conditional branches prefixed by their branch), which Ray's conversion of
``points_to_evaluate`` cannot do for values inside branches; warm-start results go in as
finished trials with their losses, so TPE models them from the first suggestion.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from raytuner.search._registry import SEARCHERS, WarmPoint
from raytuner.search.searchers.basic import ModelBasedSearch
from raytuner.search.space import Param, hyperopt_labels, hyperopt_point, to_hyperopt

if TYPE_CHECKING:
    from raytuner.config.schema import SearchConfig

#: HyperOpt trial ids of seeded results start here, far from the ids Ray's searcher hands out
#: (0, 1, 2, ...), so TPE never mixes a seeded result with a new trial's values.
TID_OFFSET = 1_000_000_000


@SEARCHERS.register("hyperopt")
class HyperOptTPE(ModelBasedSearch):
    """Tree-structured Parzen estimators after ``n_initial_points`` random trials."""


    label = "hyperopt"

    @classmethod
    def build_model(cls, search: SearchConfig, space: list[Param], *, seed: int,
                    max_concurrent: int, warm: Sequence[WarmPoint] = ()
                    ) -> tuple[Any, dict[str, Any]]:
        # deferred: Ray is heavy, and _ray_compat imports it at its top
        from raytuner._ray_compat import SeededHyperOptSearch

        labels = hyperopt_labels(space)
        points = [hyperopt_point(space, p) for p in search.points_to_evaluate]
        seed_trials = functools.partial(fill_trials, space=space, warm=list(warm),
                                        mode=search.mode, labels=labels)
        searcher = SeededHyperOptSearch(
            seed_trials=seed_trials, space=to_hyperopt(space), metric=search.metric,
            mode=search.mode, points_to_evaluate=points or None,
            n_initial_points=search.n_initial_points, random_state_seed=seed)
        return searcher, {}


def _blank_inactive(doc: dict[str, Any], labels: list[str]) -> None:
    # HyperOpt marks labels of branches a trial did not take with empty lists; its helper for
    # seeded points leaves them out, which TPE cannot read.
    for label in labels:
        doc["misc"]["idxs"].setdefault(label, [])
        doc["misc"]["vals"].setdefault(label, [])


def fill_trials(trials: Any, *, space: list[Param], warm: list[WarmPoint], mode: str,
                labels: list[str]) -> None:
    """Insert the ``warm`` points into a HyperOpt ``Trials`` object as finished trials, and
    give every trial (seeded points too) an entry for every label.

    HyperOpt minimizes, so a reward maximized by the search becomes ``loss = -reward`` (the
    sign Ray's ``HyperOptSearch`` uses for the trials it runs itself).
    """
    from hyperopt import JOB_STATE_DONE, STATUS_OK  # deferred with Ray: only a run needs it
    from hyperopt.fmin import generate_trial

    sign = -1.0 if mode == "max" else 1.0
    docs = []
    for i, point in enumerate(warm):
        doc = generate_trial(TID_OFFSET + i, hyperopt_point(space, point.params))
        _blank_inactive(doc, labels)
        doc["state"] = JOB_STATE_DONE
        doc["result"] = {"loss": sign * point.reward, "status": STATUS_OK}
        docs.append(copy.deepcopy(doc))
    if docs:
        trials.insert_trial_docs(docs)
        trials.refresh()
    for doc in trials.trials:
        _blank_inactive(doc, labels)
