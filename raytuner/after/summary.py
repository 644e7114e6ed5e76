"""Per-trial records of a run folder, the best trial, and ``summary.json``.

Everything here reads the run folder (Ray's experiment state and each trial's result files), so it
works after a finished run, a crashed one, and without a running Ray cluster.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from raytuner.config.metrics import all_metric_names
from raytuner.config.schema import Experiment
from raytuner.errors import ConfigError
from raytuner.files import write_text_atomic
from raytuner.runs.folder import EXPERIMENT_STATE_PREFIX, SUMMARY_FILE, load_run_experiment
from raytuner.runs.storage import localize_run_dir
from raytuner.search.space import flatten
from raytuner.text import render_table
from raytuner.trial.divergence import DIVERGED_KEY
from raytuner.trial.status import max_epochs_of, status_counts, trial_status


def _clean(value: Any) -> Any:
    """JSON-safe scalars: NaN/inf become None, numpy numbers plain Python."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


#: what a record keeps of a trial's last result: the catalogue's metrics, Ray's clock and
#: iteration count, and the marker of a diverged trial
KEPT_RESULT_KEYS = frozenset([*all_metric_names(), "time_total_s", "training_iteration",
                              DIVERGED_KEY])


def trial_records(run_dir: str | Path, exp: Experiment, analysis: Any = None
                  ) -> list[dict[str, Any]]:
    """One record per trial: id, status, params, epochs, last and best metrics, checkpoint.

    ``analysis`` is the finished run's in-memory ``ExperimentAnalysis`` when there is one: the
    experiment state on disk can lag the final trial statuses by one snapshot.
    """
    if analysis is None:
        # Deferred: Ray is heavy, and a finished run's summary.json is read without it.
        from ray.tune import ExperimentAnalysis

        analysis = ExperimentAnalysis(str(run_dir), default_metric=exp.search.metric,
                                      default_mode=exp.search.mode)
    frames = analysis.trial_dataframes
    # Ray's analysis logs an error per trial that has no checkpoint (errored at its first
    # epoch, or not started yet mid-run); the record says so with its null checkpoint.
    quiet = logging.getLogger("ray.tune.analysis.experiment_analysis")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        return [_record(trial, frames.get(trial.trial_id), analysis, exp)
                for trial in analysis.trials]
    finally:
        quiet.setLevel(level)


def _best_value(frame: Any, metric: str, mode: str) -> float | None:
    """The best value of ``metric`` over a trial's reported epochs (a pandas frame)."""
    if frame is None or metric not in getattr(frame, "columns", []) or not len(frame):
        return None
    values = frame[metric].dropna()
    if not len(values):
        return None
    return _clean(values.max() if mode == "max" else values.min())


def _best_row(frame: Any, metric: str, mode: str) -> dict[str, Any]:
    """The kept metrics of the epoch with the best value of ``metric`` (empty when none)."""
    if frame is None or metric not in getattr(frame, "columns", []):
        return {}
    values = frame[metric].dropna()
    if not len(values):
        return {}
    row = frame.loc[values.idxmax() if mode == "max" else values.idxmin()]
    return {k: _clean(v) for k, v in row.items() if k in KEPT_RESULT_KEYS}


def _record(trial: Any, frame: Any, analysis: Any, exp: Experiment) -> dict[str, Any]:
    metric, mode = exp.search.metric, exp.search.mode
    params = flatten(trial.config, exp.space)
    last = {k: _clean(v) for k, v in (trial.last_result or {}).items() if k in KEPT_RESULT_KEYS}
    max_epochs = max_epochs_of(params, exp.train.epochs)
    best_metrics = _best_row(frame, metric, mode)
    # Several objectives: a trial stands for its last epoch (raytuner.after.front), so its
    # checkpoint is that epoch's; one objective: the epoch with the best value.
    rank_by = ("epoch", "max") if exp.search.multi_objective else (metric, mode)
    try:
        best_checkpoint = analysis.get_best_checkpoint(trial, *rank_by)
    except Exception:  # a trial that never reported has no checkpoint to rank
        best_checkpoint = None
    return {
        "trial_id": trial.trial_id,
        "status": trial_status(trial.status, trial.last_result, max_epochs),
        "config": params,
        "epochs": int(last.get("epoch") or 0),
        "max_epochs": max_epochs,
        "best": _best_value(frame, metric, mode),
        "metrics": last,
        # the epoch the best value came from, and what it reported (metrics: the last epoch)
        "best_epoch": int(best_metrics["epoch"]) if best_metrics.get("epoch") else None,
        "best_metrics": best_metrics,
        "checkpoint": best_checkpoint.path if best_checkpoint is not None else None,
        "path": trial.path,
        "error_file": trial.error_file if trial.status == "ERROR" else None,
        # pbt/pb2: the exploits behind the trial's final weights (raytuner.trial.exploit)
        "lineage": list((trial.last_result or {}).get("lineage") or []),
        **({"worst": _worst_values(frame, exp.search.goals)}
           if exp.search.multi_objective else {}),
    }


def _worst_values(frame: Any, goals: list[tuple[str, str]]) -> list[float | None]:
    """Per objective, the worst value a trial reported over its epochs (what the reference
    point of the hypervolume must lie beyond)."""
    worst: list[float | None] = []
    for metric, mode in goals:
        values = (frame[metric].dropna() if frame is not None
                  and metric in getattr(frame, "columns", []) else [])
        worst.append(_clean(values.min() if mode == "max" else values.max())
                     if len(values) else None)
    return worst


def ranked_records(records: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    """The trials that reported the search metric, best first: by their best value, a tie by
    the earlier epoch it came at, then by trial id.

    Ties are common (an accuracy on a few hundred examples takes few values) and Ray lists
    the trials in a different order in memory and read back from the run folder: without the
    tie-breaks ``summary.json`` and a later ``raytuner report`` named different best trials.
    """
    sign = -1.0 if mode == "max" else 1.0
    scored = [r for r in records if r["best"] is not None]
    return sorted(scored, key=lambda r: (sign * r["best"], r.get("best_epoch") or math.inf,
                                         r["trial_id"]))


def best_record(records: list[dict[str, Any]], mode: str) -> dict[str, Any] | None:
    """The trial with the best value of the search metric over all its epochs (the first
    of :func:`ranked_records`)."""
    ranking = ranked_records(records, mode)
    return ranking[0] if ranking else None


def build_summary(run_dir: str | Path, exp: Experiment, *, wall_time_s: float | None = None,
                  analysis: Any = None) -> dict[str, Any]:
    """Summary of a run folder: experiment, every trial, the best one."""
    records = trial_records(run_dir, exp, analysis)
    best = best_record(records, exp.search.mode)
    counts = status_counts([record["status"] for record in records])
    summary = {
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
    if exp.search.multi_objective:
        summary.update(pareto_summary(records, exp.search.goals))
    return summary


def pareto_summary(records: list[dict[str, Any]], goals: list[tuple[str, str]]
                   ) -> dict[str, Any]:
    """What a multi-objective summary adds: the objectives, the ids of the trials on the
    Pareto front by their final values (best first by the first objective), and the front's
    hypervolume with its reference point (:func:`raytuner.after.front.reference_point` of
    every value reported)."""
    from raytuner.after.front import final_point, front_records, reference_point
    from raytuner.search.pareto import hypervolume

    front = front_records(records, goals)
    seen = [tuple(math.nan if v is None else v for v in r["worst"]) for r in records
            if r.get("worst") and any(v is not None for v in r["worst"])]
    reference = reference_point(seen, goals)
    points = [final_point(r, goals) for r in front]
    modes = [mode for _, mode in goals]
    return {
        "objectives": [{"metric": metric, "mode": mode} for metric, mode in goals],
        "pareto": [r["trial_id"] for r in front],
        "hypervolume": {"value": hypervolume([p for p in points if p], modes, reference),
                        "reference": list(reference)},
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


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """The summary of a run folder (a path or a URI): ``summary.json`` when the run finished,
    else built from the folder as it is (what ``raytuner best`` prints)."""
    return read_or_build_summary(localize_run_dir(run_dir))  # a URI: through its mirror


def summary_table(summary: dict[str, Any], limit: int = 10, width: int = 80) -> str:
    """The top trials as a text table, within ``width`` columns where the searched values
    allow (the last part of each dotted key names its column; columns drop from the right)."""
    metric, mode = summary["metric"], summary["mode"]
    trials = ranked_records(summary["trials"], mode)
    params = sorted({k for t in summary["trials"] for k in t["config"]})[:5]
    short = [p.rsplit(".", 1)[-1] for p in params]
    names = [s if short.count(s) == 1 else p for p, s in zip(params, short, strict=True)]
    while True:
        header = ["trial", "status", "epochs", *names, f"best {metric}"]
        rows = [[t["trial_id"], t["status"], t["epochs"],
                 *(t["config"].get(p, "") for p in params), t["best"]] for t in trials[:limit]]
        text = render_table(rows, header)
        if not params or max(len(line.rstrip()) for line in text.splitlines()) <= width:
            return text
        params, names = params[:-1], names[:-1]


def current_summary(run_dir: Path) -> dict[str, Any]:
    """The run's summary as the folder is now: rebuilt from the trial records (a running or
    resumed run's ``summary.json`` is stale or missing), keeping the recorded wall time."""
    exp = load_run_experiment(run_dir)
    if not any(run_dir.glob(f"{EXPERIMENT_STATE_PREFIX}-*.json")):
        # Ray writes its experiment state a few seconds after a run starts.
        raise ConfigError("the run has not saved its Ray Tune experiment state yet (it does "
                          "within seconds of starting); try again shortly", source=str(run_dir))
    summary = build_summary(run_dir, exp)
    saved = run_dir / SUMMARY_FILE
    if saved.is_file():
        summary["wall_time_s"] = json.loads(saved.read_text(encoding="utf-8")).get(
            "wall_time_s")
    return summary
