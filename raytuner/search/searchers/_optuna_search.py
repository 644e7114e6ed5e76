"""Ray's ``OptunaSearch`` and Optuna's NSGA-II as raytuner runs them (imported only by a run:
it imports Ray).

Public Ray API only: ``suggest`` and ``on_trial_complete`` are the ``Searcher`` interface, and
a define-by-run space's returned constants are documented to join the suggested config.
"""

from __future__ import annotations

import threading
from typing import Any

import optuna
from ray.tune.search.optuna import OptunaSearch

from raytuner.search.optuna_space import CONFIG_KEY


class ConfigOptunaSearch(OptunaSearch):
    """``OptunaSearch`` over a :class:`raytuner.search.optuna_space.OptunaSpace`.

    - ``suggest`` hands Tune the config the space built (the constant under
      :data:`CONFIG_KEY`), not Ray's merge of it with every Optuna-named value.
    - With several objectives ``metric`` and ``mode`` are lists. Tune's single metric
      (``TuneConfig``'s, the first objective) never replaces them: Tune calls
      ``set_search_properties`` only for a non-empty ``param_space`` (raytuner's is empty),
      and ``OptunaSearch`` refuses new properties once it has a space.
    - A trial that ends without every objective's value (Optuna cannot be told part of
      them) is told failed or pruned, instead of left running in the study.
    """

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        suggested = super().suggest(trial_id)
        return suggested[CONFIG_KEY] if suggested else suggested

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        if (result and isinstance(self.metric, list)
                and any(result.get(m) is None for m in self.metric)):
            result = None  # Ray would tell Optuna a None among the values: it refuses those
        super().on_trial_complete(trial_id, result=result, error=error)


#: the lock types a sampler may hold, by a name that pickles, and how to make a fresh one
_LOCKS = {"lock": (type(threading.Lock()), threading.Lock),
          "rlock": (type(threading.RLock()), threading.RLock)}


class PicklableNSGAIISampler(optuna.samplers.NSGAIISampler):
    """``NSGAIISampler`` that pickles: Optuna 5's genetic samplers hold a ``threading.Lock``
    (``BaseGASampler.__init__``) and define no ``__getstate__``, and Tune pickles the searcher
    with its sampler (the Tuner's ``tuner.pkl``, the searcher's state for a resume). A lock
    is left out of the pickle and made anew when unpickled; found by type, not by name."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        locks = {}
        for name, value in self.__dict__.items():
            kind = next((k for k, (cls, _) in _LOCKS.items() if type(value) is cls), None)
            if kind:
                locks[name] = kind
                del state[name]
        state["_raytuner_locks"] = locks
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        locks = state.pop("_raytuner_locks", {})
        self.__dict__.update(state)
        for name, kind in locks.items():
            setattr(self, name, _LOCKS[kind][1]())
