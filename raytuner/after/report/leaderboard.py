"""The leaderboard of a run, and the best value so far over its epochs."""

from __future__ import annotations

import math
from typing import Any

from raytuner.after.summary import ranked_records
from raytuner.text import render_table
from raytuner.trial.status import FINAL_STATUSES

#: statuses of trials that stopped training (their results are final)
FINISHED = FINAL_STATUSES


def leaderboard(summary: dict[str, Any], top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` trials: rank, id, status, epochs, time, config and metrics."""
    rows = []
    for rank, trial in enumerate(ranked_records(summary["trials"], summary["mode"])[:top], start=1):
        metrics = trial.get("metrics") or {}
        rows.append({
            "rank": rank,
            "trial_id": trial["trial_id"],
            "status": trial["status"],
            "epochs": trial["epochs"],
            "max_epochs": trial.get("max_epochs"),
            "time_s": metrics.get("time_total_s"),
            "best": trial["best"],
            "config": dict(trial["config"]),
            "metrics": {k: v for k, v in metrics.items()
                        if k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")},
        })
    return rows


def leaderboard_table(rows: list[dict[str, Any]], metric: str) -> str:
    """The leaderboard as plain text."""
    params = sorted({k for r in rows for k in r["config"]})
    metric_keys = sorted({k for r in rows for k in r["metrics"]})
    header = ["#", "trial", "status", "epochs", "time_s", f"best {metric}", *params,
              *metric_keys]
    body = [[r["rank"], r["trial_id"], r["status"], r["epochs"],
             "" if r["time_s"] is None else r["time_s"], r["best"],
             *(r["config"].get(p, "-") for p in params),
             *(r["metrics"].get(m, "") for m in metric_keys)] for r in rows]
    return render_table(body, header)


def best_so_far(summary: dict[str, Any], hist: dict[str, list[dict[str, Any]]]
                ) -> list[tuple[int, float]]:
    """(epochs trained by all trials so far, best metric so far), results in report order."""
    metric, mode = summary["metric"], summary["mode"]
    events = [(r.get("timestamp", 0), r.get("time_total_s", 0.0), r[metric])
              for rows in hist.values() for r in rows
              if isinstance(r.get(metric), (int, float)) and math.isfinite(r[metric])]
    events.sort(key=lambda e: (e[0], e[1]))
    curve, best = [], None
    for spent, (_, _, value) in enumerate(events, start=1):
        if best is None or (value > best if mode == "max" else value < best):
            best = value
        curve.append((spent, best))
    return curve
