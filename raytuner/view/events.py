"""One line per event of a run, for output that is not a terminal (CI logs, ``ray job
submit``, ``nohup``): no redraw codes, a few dozen lines for a whole search."""

from __future__ import annotations

from raytuner.view.state import RunView, TrialRow, duration, short_params


def _at(view: RunView) -> str:
    return f"[{duration(view.elapsed_s()):>7}]"


def _value(view: RunView, value: float | None) -> str:
    return f"{view.metric} {'-' if value is None else f'{value:.4f}'}"


def start_line(view: RunView, resumed: bool) -> str:
    """The first line: what runs, how much work the plan expects, where it lands."""
    verb = "resuming" if resumed else "running"
    return (f"raytuner: {verb} {view.name}: {view.planned_trials} trials, "
            f"~{view.planned_epochs:.0f} epochs expected; run folder {view.run_dir}")


def trial_started(view: RunView, row: TrialRow) -> str:
    return f"{_at(view)} trial {row.trial_id} started: {short_params(row.params)}"


def trial_ended(view: RunView, row: TrialRow) -> str:
    """A trial that ended: completed, stopped (by the scheduler or early stopping), errored
    (with the file that holds its traceback) or diverged."""
    head = f"{_at(view)} trial {row.trial_id}"
    best = (f" (best {row.best:.4f} at epoch {row.best_epoch})"
            if row.best is not None and row.best_epoch else "")
    if row.status == "completed":
        return f"{head} completed {row.epoch} epochs: {_value(view, row.value)}{best}"
    if row.status == "stopped":
        return (f"{head} stopped at epoch {row.epoch}/{row.max_epochs}: "
                f"{_value(view, row.value)}{best}")
    if row.status == "diverged":
        return f"{head} diverged at epoch {row.epoch}: {short_params(row.params)}"
    where = row.error_file or "no error file"
    return f"{head} errored at epoch {row.epoch}: traceback in {where}"


def trial_retried(view: RunView, row: TrialRow) -> str:
    """A trial that failed with retries left (``failure.max_retries``)."""
    return (f"{_at(view)} trial {row.trial_id} failed at epoch {row.epoch}; retrying from its "
            "last checkpoint")


def new_best(view: RunView, row: TrialRow) -> str:
    return (f"{_at(view)} new best: trial {row.trial_id} {_value(view, row.best)} at epoch "
            f"{row.best_epoch}")


def end_line(view: RunView) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in view.counts().items() if n)
    return (f"{_at(view)} search finished: {view.total_trials()} trials ({counts}), "
            f"{view.epochs_done()} epochs")
