"""What to search and how: the space and its typed domains, the search algorithms and trial
schedulers (registries), warm starts, and the plan of a search's cost.

- :mod:`~raytuner.search.space` and :mod:`~raytuner.search.domains`: ``search.space`` parsed
  into typed domains that translate themselves for Ray Tune, HyperOpt and Optuna (leaves);
  :mod:`~raytuner.search.optuna_space`: the space as Optuna's define-by-run function;
- :mod:`~raytuner.search.searchers` (``random``, ``grid``, ``hyperopt``, ``optuna``) and
  :mod:`~raytuner.search.schedulers` (``fifo``, ``asha``, ``hyperband``): the registries;
- :mod:`~raytuner.search.warmstart`: seed HyperOpt or Optuna with an earlier run's results;
- :mod:`~raytuner.search.plan`: ``raytuner plan``.
"""

from raytuner._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    "parse_space": "space", "flatten": "space", "Param": "space", "Space": "space",
    "SEARCHERS": "searchers", "SCHEDULERS": "schedulers", "make_plan": "plan",
    "Plan": "plan", "warm_points": "warmstart", "check_warm_start": "warmstart",
})
