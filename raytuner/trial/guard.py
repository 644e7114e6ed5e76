"""What a trial does when its training goes wrong (divergence and out-of-memory).

:func:`guarded_epochs` wraps the training loop's epoch iterator for the Ray adapter:

- :class:`~raytuner.trial.divergence.Diverged`: one last result with ``"diverged": 1.0`` and the
  worst value of the search metric, then the iteration ends normally. A result, not an error:
  the scheduler and searcher learn the configuration is bad and no retry is spent on it.
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
    """Yield each epoch's metrics from ``epochs``; after a divergence, the diverged result
    (marked ``"diverged": 1.0``) last, which has no checkpoint to go with it."""
    try:
        yield from epochs
    except Diverged as exc:
        log.warning("raytuner: trial diverged: %s", exc.reason)
        yield diverged_result(exc, exp.search.metric, exp.search.mode)
    except torch.OutOfMemoryError:
        release_memory(exp)
        raise
