"""The hypervolume curve of a multi-objective run in its TensorBoard view.

Written when a run ends and by ``raytuner report``, from the run folder's results, with the
reference point of ``summary.json`` (:func:`raytuner.after.front.reference_point`): the curve
needs the final reference point, so it is not drawn live, result by result.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from raytuner.runs.folder import TENSORBOARD_DIR
from raytuner.tensorboard import events
from raytuner.tensorboard.layout import SEARCH_GROUP

#: the curve's run in the TensorBoard view, and its tag (in the search group, which
#: TensorBoard's first view shows first: raytuner.tensorboard.layout)
PARETO_RUN = "pareto"
HYPERVOLUME_TAG = f"{SEARCH_GROUP}/hypervolume_vs_epochs"


def write_hypervolume(run_dir: str | Path, curve: list[tuple[int, float]]) -> Path:
    """The front's hypervolume against epochs spent by all trials, as the curve
    :data:`HYPERVOLUME_TAG` of the run ``tensorboard/pareto/``, written anew each time (a
    later report may have a moved reference point or more results)."""
    log_dir = Path(run_dir) / TENSORBOARD_DIR / PARETO_RUN
    fresh = log_dir.with_name(f".{PARETO_RUN}-new")
    shutil.rmtree(fresh, ignore_errors=True)
    writer = events.EventWriter(fresh)
    try:
        for spent, value in curve:
            writer.add_scalars({HYPERVOLUME_TAG: value}, spent, time.time())
    finally:
        writer.close()
    shutil.rmtree(log_dir, ignore_errors=True)
    fresh.rename(log_dir)
    return log_dir
