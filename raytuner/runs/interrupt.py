"""Ctrl-C during a run: Ray Tune stops gracefully; raytuner tells the user how to continue.

On the first SIGINT, Tune stops its trials, saves the experiment state one last time and lets
``Tuner.fit()`` *return* as if the run had finished; only a second SIGINT raises. To tell the two
apart, :func:`watch_interrupt` installs a sentinel SIGINT handler before ``fit``: Tune saves the
handler it replaces and puts it back when it receives the first SIGINT (and never otherwise), so
finding the sentinel installed again after ``fit`` means the run was interrupted.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from raytuner.errors import Interrupted


def interrupted_error(run_dir: Path) -> Interrupted:
    """The :class:`Interrupted` error for ``run_dir``, resumable if Ray saved its state."""
    # Deferred: a Ctrl-C can come before anything imported Ray (while loading data).
    from ray import tune

    try:
        resumable = tune.Tuner.can_restore(str(run_dir))
    except Exception:  # unreadable folder: do not promise a resume
        resumable = False
    return Interrupted(run_dir, resumable)


@dataclass
class InterruptWatch:
    """Outcome of :func:`watch_interrupt`: ``interrupted`` is set when the block ends."""

    interrupted: bool = False


def _sentinel(signum: int, frame: object) -> None:
    # A second Ctrl-C after Tune restored this handler: stop now, like Python's default.
    raise KeyboardInterrupt


@contextmanager
def watch_interrupt() -> Iterator[InterruptWatch]:
    """Run the block (``tuner.fit()``) and record whether Tune received a SIGINT in it."""
    watch = InterruptWatch()
    if threading.current_thread() is not threading.main_thread():
        yield watch  # signals reach only the main thread; Tune installs no handler either
        return
    previous = signal.signal(signal.SIGINT, _sentinel)
    try:
        yield watch
        # With Tune's handler disabled by the user, Ctrl-C raises KeyboardInterrupt instead.
        watch.interrupted = (signal.getsignal(signal.SIGINT) is _sentinel
                             and not int(os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0")))
    finally:
        signal.signal(signal.SIGINT, previous)
