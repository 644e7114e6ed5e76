"""What a trial does when its training goes wrong (the Ray side of divergence and OOM).

:func:`guarded_epochs` wraps the training loop's epoch iterator inside the Ray adapter:

- :class:`~raytuner.divergence.Diverged`: one last ``tune.report`` with ``"diverged": 1.0`` and
  the worst value of the search metric, then the iteration ends normally. A result, not an
  error: the scheduler and searcher learn the configuration is bad and no retry is spent on it.
- out of memory: logged with what to change, the GPU cache freed, then re-raised, so Ray retries
  the trial from its last checkpoint (``failure.max_retries``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import torch

from raytuner.config.schema import Experiment
from raytuner.trial.divergence import Diverged, diverged_result
from raytuner.trial.recovery import release_memory

log = logging.getLogger("raytuner")


def guarded_epochs(epochs: Iterator[dict[str, float]], exp: Experiment
                   ) -> Iterator[dict[str, float]]:
    """Yield each epoch's metrics from ``epochs``, handling divergence and out-of-memory."""
    from ray import tune

    try:
        yield from epochs
    except Diverged as exc:
        log.warning("raytuner: trial diverged: %s", exc.reason)
        tune.report(diverged_result(exc, exp.search.metric, exp.search.mode))
    except torch.OutOfMemoryError:
        release_memory(exp)
        raise
