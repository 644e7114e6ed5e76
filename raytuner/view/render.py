"""The live view of a run, drawn with ``rich``: progress of trials and epochs against the plan,
the clock, counts by status, the best trial so far and the running trials. Fits 80 columns."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from raytuner.view.state import RunView, duration, short_params

#: running trials shown; the rest are counted
MAX_RUNNING_ROWS = 8
_STATUS_STYLES = {"pending": "dim", "running": "cyan", "completed": "green",
                  "stopped": "yellow", "errored": "red", "diverged": "magenta"}


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _bar(label: str, done: float, total: float, text: str) -> Table:
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=7)
    grid.add_column(ratio=1)
    grid.add_column(width=14, justify="right")
    grid.add_row(label, ProgressBar(total=max(total, 1e-9), completed=min(done, total)), text)
    return grid


def _header(view: RunView) -> Text:
    text = Text.assemble((f"raytuner {view.name}", "bold"),
                         f"  {view.metric} ({view.mode})  {view.run_dir}")
    text.truncate(80, overflow="ellipsis")
    return text


def _clock(view: RunView) -> Text:
    if view.finished_s is not None:
        return Text(f"finished in {duration(view.elapsed_s())}")
    left = view.seconds_left()
    return Text(f"elapsed {duration(view.elapsed_s())}   left "
                + ("estimating" if left is None else f"~{duration(left)}"))


def _counts(view: RunView) -> Text:
    text = Text()
    for i, (status, count) in enumerate(view.counts().items()):
        text.append(("  " if i else "") + f"{count} ")
        text.append(status, style=_STATUS_STYLES.get(status, ""))
    return text


def _best(view: RunView) -> Text:
    best = view.best()
    if best is None:
        return Text("best: no result yet")
    at = f" at epoch {best.best_epoch}" if best.best_epoch else ""
    text = Text.assemble("best: ", (best.trial_id, "bold"),
                         f" {view.metric} {_number(best.best)}{at}  {short_params(best.params)}")
    text.truncate(160, overflow="ellipsis")
    return text


def _running(view: RunView) -> Table:
    table = Table(box=None, padding=(0, 1), expand=True, show_edge=False)
    table.add_column("running", no_wrap=True)
    table.add_column("epoch", justify="right", no_wrap=True)
    table.add_column(view.metric[:14], justify="right", no_wrap=True)
    table.add_column("best", justify="right", no_wrap=True)
    table.add_column("config", overflow="ellipsis", no_wrap=True, ratio=1)
    rows = view.running()
    for row in rows[:MAX_RUNNING_ROWS]:
        table.add_row(row.trial_id, f"{row.epoch}/{row.max_epochs}", _number(row.value),
                      _number(row.best), short_params(row.params))
    if len(rows) > MAX_RUNNING_ROWS:
        table.add_row(f"+{len(rows) - MAX_RUNNING_ROWS} more", "", "", "", "")
    return table


def render_view(view: RunView) -> RenderableType:
    """The whole view of ``view`` as one renderable."""
    total = view.total_trials()
    expected = view.epochs_expected()
    approx = "" if view.finished_s is not None else "~"
    parts: list[RenderableType] = [
        _header(view),
        _bar("trials", view.trials_done(), total, f"{view.trials_done()}/{total}"),
        _bar("epochs", view.epochs_done(), expected,
             f"{view.epochs_done()}/{approx}{expected:.0f}"),
        _clock(view), _counts(view), _best(view),
    ]
    if view.running():
        parts.append(_running(view))
    return Group(*parts)
