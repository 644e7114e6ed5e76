"""The report's figures in the run's TensorBoard view.

The run's TensorBoard folder is ``<run_dir>/tensorboard/``; the report writes its own run folder
inside it, ``tensorboard/report/``, so it never touches the event files of the trial
aggregation. Each report adds a step (the number of finished trials), so reporting a running
search several times shows how the picture evolved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from torch.utils.tensorboard import SummaryWriter

from raytuner.runs.folder import REPORT_DIR, TENSORBOARD_DIR

TB_SUBDIR = Path(TENSORBOARD_DIR) / REPORT_DIR


def write_tensorboard(run_dir: Path, figures: dict[str, Figure], report: dict[str, Any]
                      ) -> Path:
    """Add every figure (``report/<name>`` image tags) and the leaderboard as text."""
    log_dir = Path(run_dir) / TB_SUBDIR
    step = report["importance"]["num_trials"]
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        for name, fig in figures.items():
            # close=False: the same figures are saved as PNG by the caller.
            writer.add_figure(f"report/{name}", fig, global_step=step, close=False)
        writer.add_text("report/leaderboard", report["leaderboard_markdown"], global_step=step)
    finally:
        writer.close()
    return log_dir

