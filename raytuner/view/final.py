"""The end of every run: the leaderboard, the best configuration with its best epoch's and its
last epoch's metrics (labelled), and the exact next commands for the run folder."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

from raytuner.after.front import front_lines
from raytuner.after.lineage import schedule_lines

#: result keys that are bookkeeping, not metrics a user compares
_NOT_SHOWN = {"epoch", "training_iteration", "time_total_s", "diverged", "lr", "epoch_time_s",
              "samples_per_s"}


def display_path(run_dir: str | Path) -> str:
    """The run folder as a user types it: relative when under the current folder."""
    text = str(run_dir)
    if "://" in text:
        return text
    try:
        relative = os.path.relpath(text)
    except ValueError:  # another drive (Windows)
        return text
    return text if relative.startswith("..") else relative


def metrics_text(metrics: dict[str, Any]) -> str:
    """``val_accuracy=0.9944, val_loss=0.02``: the numeric metrics of one epoch."""
    return ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()
                     if k not in _NOT_SHOWN and isinstance(v, (int, float))
                     and not isinstance(v, bool))


def next_commands(run_dir: str | Path) -> list[str]:
    """What to run next on this run folder."""
    where = display_path(run_dir)
    return [f"raytuner tensorboard {where}", f"raytuner report {where}",
            f"raytuner export {where} --out {where.rstrip('/')}/export"]


def best_lines(summary: dict[str, Any]) -> list[str]:
    """The best trial: its configuration, then its best epoch's and last epoch's metrics."""
    best, metric = summary.get("best"), summary["metric"]
    if best is None:
        return ["no trial reported a result"]
    at = f" at epoch {best['best_epoch']}" if best.get("best_epoch") else ""
    lines = [f"best trial {best['trial_id']} ({best['status']}, {best['epochs']} of "
             f"{best.get('max_epochs', best['epochs'])} epochs): {metric} "
             f"{best['best']:.4f}{at}", "  config:"]
    lines += [f"    {key} = {value}" for key, value in best["config"].items()]
    wrap = {"width": 80, "subsequent_indent": "      "}
    if best.get("best_epoch") == best["epochs"]:
        lines += textwrap.wrap(f"  best and last epoch ({best['epochs']}): "
                               f"{metrics_text(best['metrics'])}", **wrap)
    else:
        if best.get("best_metrics"):
            lines += textwrap.wrap(f"  best epoch ({best['best_epoch']}): "
                                   f"{metrics_text(best['best_metrics'])}", **wrap)
        lines += textwrap.wrap(f"  last epoch ({best['epochs']}): "
                               f"{metrics_text(best['metrics'])}", **wrap)
    # pbt/pb2: the settings changed while training
    lines += [f"  {line}" for line in schedule_lines(best)]
    label = "last epoch" if "pareto" in summary else "best epoch"  # see raytuner.after.front
    lines.append(f"  checkpoint ({label}): {best['checkpoint']}")
    return lines


def final_lines(summary: dict[str, Any], table: str, problems: list[str],
                run_dir: str | Path) -> list[str]:
    """Everything printed when a run ends (``table``: the leaderboard as text)."""
    counts = ", ".join(f"{n} {s}" for s, n in summary["status_counts"].items())
    wall = summary.get("wall_time_s")
    took = f" in {wall:.1f} s" if wall is not None else ""
    lines = ["", f"{summary['num_trials']} trials ({counts}){took}", table, *problems, ""]
    lines += best_lines(summary)
    if "pareto" in summary:  # several objectives: the trade-offs, not one winner
        lines += ["", *front_lines(summary, display_path(run_dir))]
    lines += ["", f"run folder: {display_path(run_dir)}", "next:"]
    lines += [f"  {command}" for command in next_commands(run_dir)]
    return lines
