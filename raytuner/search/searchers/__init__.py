"""Search algorithms, registered in :data:`SEARCHERS` by name: ``random``, ``grid``,
``hyperopt``, ``optuna`` (importing this package registers them)."""

from raytuner.search._registry import SEARCHERS, SearchAlgorithm, WarmPoint
from raytuner.search.searchers import basic, hyperopt, optuna  # noqa: F401 - they register themselves

__all__ = ["SEARCHERS", "SearchAlgorithm", "WarmPoint"]
