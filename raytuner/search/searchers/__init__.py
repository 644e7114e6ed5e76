"""Search algorithms, registered in :data:`SEARCHERS` by name: ``random``, ``grid``,
``hyperopt`` (importing this package registers them)."""

from raytuner.search._registry import SEARCHERS, SearchAlgorithm, WarmPoint
from raytuner.search.searchers import basic, hyperopt  # noqa: F401 - they register themselves

__all__ = ["SEARCHERS", "SearchAlgorithm", "WarmPoint"]
