"""``raytuner status RUN_DIR``: the live view of a run, read from its folder (on this machine,
a cluster's shared storage or a storage URI), while it runs or after it finished. A run
launched with ``ray job submit`` is watched this way."""

from __future__ import annotations

import time
from pathlib import Path

from raytuner.after.summary import current_summary
from raytuner.runs.folder import EXPERIMENT_FILE, SUMMARY_FILE, load_run_experiment
from raytuner.runs.storage import localize_run_dir
from raytuner.search.work import expected_work
from raytuner.trial.status import FINAL_STATUSES
from raytuner.view.state import RunView, rows_from_records


def status_view(run_dir: str | Path) -> RunView:
    """The :class:`RunView` of a run folder as it is now (a URI: through its mirror)."""
    display = str(run_dir)
    local = localize_run_dir(run_dir)
    exp = load_run_experiment(local)
    summary = current_summary(local)
    planned, epochs, _ = expected_work(exp)
    # The run's start: when its experiment file was written (a mirror's copy keeps it
    # only roughly); the recorded wall time once it finished.
    view = RunView(name=exp.name, metric=exp.search.metric, mode=exp.search.mode,
                   run_dir=display, planned_trials=planned, planned_epochs=epochs.expected,
                   max_planned_epochs=epochs.upper,
                   started_at=(local / EXPERIMENT_FILE).stat().st_mtime)
    view.trials = rows_from_records(summary["trials"], exp.search.metric)
    ended = all(row.status in FINAL_STATUSES for row in view.trials.values())
    if ended and view.trials and (local / SUMMARY_FILE).is_file():
        view.finished_s = summary.get("wall_time_s") or view.elapsed_s(time.time())
    return view


def is_finished(view: RunView) -> bool:
    return view.finished_s is not None
