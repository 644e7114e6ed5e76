"""Per-trial records of a run folder, the best trial, and ``summary.json``.

Everything here reads the run folder (Ray's experiment state and each trial's result files), so it
works after a finished run, a crashed one, and without a running Ray cluster.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from raytuner.config import Experiment, validate_experiment
from raytuner.errors import ConfigError
from raytuner.space import flatten, parse_space
from raytuner.yaml_io import read_yaml_file, write_text_atomic

EXPERIMENT_FILE = "experiment.yaml"
SUMMARY_FILE = "summary.json"


def load_run_experiment(run_dir: str | Path) -> Experiment:
    """The resolved experiment saved in a run folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError("run folder not found", source=str(run_dir))
    path = run_dir / EXPERIMENT_FILE
    if not path.is_file():
        raise ConfigError(f"not a raytuner run folder (no {EXPERIMENT_FILE})", source=str(run_dir))
    return validate_experiment(read_yaml_file(path), source=str(path), check_space=False)


def _clean(value: Any) -> Any:
    """JSON-safe scalars: NaN/inf become None, numpy numbers plain Python."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def trial_records(run_dir: str | Path, exp: Experiment, analysis=None) -> list[dict[str, Any]]:
    """One record per trial: id, status, params, epochs, last and best metrics, checkpoint.

    ``analysis`` is the finished run's in-memory ``ExperimentAnalysis`` when there is one: the
    experiment state on disk can lag the final trial statuses by one snapshot.
    """
    from ray.tune import ExperimentAnalysis

    metric, mode = exp.search.metric, exp.search.mode
    if analysis is None:
        analysis = ExperimentAnalysis(str(run_dir), default_metric=metric, default_mode=mode)
    space = parse_space(exp.search.space)
    frames = analysis.trial_dataframes
    records = []
    for trial in analysis.trials:
        params = flatten(trial.config, space)
        frame = frames.get(trial.trial_id)
        history = frame if frame is not None and metric in getattr(frame, "columns", []) else None
        last = {k: _clean(v) for k, v in (trial.last_result or {}).items()
                if k in _METRIC_KEYS}
        best = None
        if history is not None and len(history):
            values = history[metric].dropna()
            if len(values):
                best = _clean(values.max() if mode == "max" else values.min())
        max_epochs = int(params.get("train.epochs", exp.train.epochs))
        epochs = int(last.get("epoch") or 0)
        checkpoint = None
        try:
            best_ckpt = analysis.get_best_checkpoint(trial, metric, mode)
            checkpoint = best_ckpt.path if best_ckpt is not None else None
        except Exception:  # a trial that never reported has no checkpoint to rank
            checkpoint = None
        records.append({
            "trial_id": trial.trial_id,
            "status": _status(trial.status, epochs, max_epochs, trial.last_result),
            "config": params,
            "epochs": epochs,
            "max_epochs": max_epochs,
            "best": best,
            "metrics": last,
            "checkpoint": checkpoint,
            "path": trial.path,
            "error_file": trial.error_file if trial.status == "ERROR" else None,
        })
    return records


_METRIC_KEYS = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "epoch",
                "epoch_time_s", "samples_per_s", "time_total_s", "training_iteration"}
# the toolbox's validation metrics and their cross-validation spreads
_METRIC_KEYS.update(["val_top5_accuracy", "val_precision", "val_recall", "val_f1", "val_roc_auc"])
_METRIC_KEYS.update([f"{k}_std" for k in list(_METRIC_KEYS) if k.startswith(("train_", "val_"))])
_METRIC_KEYS |= {"diverged"}  # a diverged trial's last result carries "diverged": 1.0


def _status(ray_status: str, epochs: int, max_epochs: int,
            last_result: dict[str, Any] | None = None) -> str:
    if (last_result or {}).get("diverged"):  # the contract's marker of a diverged trial
        return "diverged"
    if ray_status == "ERROR":
        return "errored"
    if epochs >= max_epochs:
        # HyperBand can leave a trial PAUSED at max_t: it has trained every epoch all the same.
        return "completed"
    if ray_status == "TERMINATED":
        return "stopped"
    if ray_status == "PENDING" and epochs > 0:
        # Tune's saved state of a live run can predate the trial's start by a snapshot, while
        # its results are already on disk: a trial that has reported is running.
        return "running"
    return ray_status.lower()


def best_record(records: list[dict[str, Any]], mode: str) -> dict[str, Any] | None:
    """The trial with the best value of the search metric over all its epochs."""
    scored = [r for r in records if r["best"] is not None]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda r: r["best"])


def build_summary(run_dir: str | Path, exp: Experiment, *, wall_time_s: float | None = None,
                  analysis=None) -> dict[str, Any]:
    """Summary of a run folder: experiment, every trial, the best one."""
    records = trial_records(run_dir, exp, analysis)
    best = best_record(records, exp.search.mode)
    counts: dict[str, int] = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return {
        "experiment": exp.name,
        "run_dir": str(Path(run_dir).resolve()),
        "metric": exp.search.metric,
        "mode": exp.search.mode,
        "wall_time_s": wall_time_s,
        "num_trials": len(records),
        "status_counts": counts,
        "best": best,
        "trials": records,
    }


def write_summary(run_dir: str | Path, summary: dict[str, Any]) -> Path:
    """Write ``summary.json`` atomically into the run folder."""
    path = Path(run_dir) / SUMMARY_FILE
    write_text_atomic(path, json.dumps(summary, indent=2, default=str) + "\n")
    return path


def read_or_build_summary(run_dir: str | Path) -> dict[str, Any]:
    """``summary.json`` when the run finished; else built from the run folder as it is."""
    exp = load_run_experiment(run_dir)
    path = Path(run_dir) / SUMMARY_FILE
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return build_summary(run_dir, exp)


def summary_table(summary: dict[str, Any], limit: int = 10) -> str:
    """The top trials as a text table."""
    from raytuner.progress import render_table

    metric, mode = summary["metric"], summary["mode"]
    trials = [t for t in summary["trials"] if t["best"] is not None]
    trials.sort(key=lambda t: t["best"], reverse=(mode == "max"))
    params = sorted({k for t in summary["trials"] for k in t["config"]})[:5]
    header = ["trial", "status", "epochs", *params, f"best {metric}"]
    rows = [[t["trial_id"], t["status"], t["epochs"], *(t["config"].get(p, "") for p in params),
             t["best"]] for t in trials[:limit]]
    return render_table(rows, header)
