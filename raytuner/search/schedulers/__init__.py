"""Trial schedulers, registered in :data:`SCHEDULERS` by name: ``fifo``, ``asha``,
``moasha``, ``hyperband``, ``median``, ``pbt``, ``pb2`` (importing this package registers them)."""

from raytuner.search._registry import SCHEDULERS, Budget, TrialScheduler

# isort: off
# Registration order is the order error messages list the names in: the simplest first.
from raytuner.search.schedulers import fifo, asha, moasha, hyperband, median, pbt, pb2  # noqa: F401
# isort: on

__all__ = ["SCHEDULERS", "Budget", "TrialScheduler"]
