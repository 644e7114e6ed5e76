"""Regenerate ``<run_dir>/tensorboard`` from a run folder's own records.

The trials' result files (Ray's JSON logger: one line per reported epoch) are replayed through
the same :class:`Aggregator` the live callback uses, in the order the results arrived, into a
fresh folder that then replaces the old one: a rebuild never appends to what was there.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
from ray.tune import ExperimentAnalysis

from raytuner.config.metrics import reported_metrics
from raytuner.errors import ConfigError
from raytuner.files import resolve_location
from raytuner.runs.folder import REPORT_DIR, RESULT_FILE, TENSORBOARD_DIR, load_run_experiment
from raytuner.search.space import Space, flatten
from raytuner.tensorboard import storage
from raytuner.tensorboard.aggregator import Aggregator
from raytuner.trial.status import FINAL_STATUSES, max_epochs_of, trial_status


@dataclass
class _Event:
    wall: float
    order: int  # start < result < end at the same instant
    trial_id: str
    params: dict[str, Any]
    kind: str
    payload: Any = None


def _read_results(fs: pafs.FileSystem, trial_path: str) -> list[dict[str, Any]]:
    source = f"{trial_path}/{RESULT_FILE}"
    if fs.get_file_info(source).type != pafs.FileType.File:
        return []
    with fs.open_input_stream(source) as stream:
        lines = stream.read().decode("utf-8").splitlines()
    results = []
    for line in lines:
        try:
            results.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash
            continue
    return results


def _times(results: list[dict[str, Any]]) -> list[float]:
    """Arrival time of each result. Ray stamps whole seconds; the trial's own precise clock
    (``time_total_s``) places results inside their second."""
    stamps = [float(r.get("timestamp") or 0.0) for r in results]
    totals = [float(r.get("time_total_s") or 0.0) for r in results]
    origin = max((s - t for s, t in zip(stamps, totals, strict=True)), default=0.0)
    times, last = [], 0.0
    for stamp, total in zip(stamps, totals, strict=True):
        # Clamped to the stamped second: after a restore the trial's clock has a gap.
        wall = min(max(origin + total, stamp), stamp + 0.999)
        last = max(last, wall)
        times.append(last)
    return times


def _trial_events(analysis_trial: Any, fs: pafs.FileSystem, space: Space,
                  default_epochs: int) -> list[_Event]:
    trial_id = analysis_trial.trial_id
    params = flatten(analysis_trial.config, space)
    results = _read_results(fs, analysis_trial.path)
    times = _times(results)
    out: list[_Event] = []
    if results:
        first = results[0]
        start = times[0] - float(first.get("time_this_iter_s") or 0.0)
        out.append(_Event(start, 0, trial_id, params, "start"))
        out += [_Event(t, 1, trial_id, params, "result", r)
                for t, r in zip(times, results, strict=True)]
    status = trial_status(analysis_trial.status, results[-1] if results else
                          analysis_trial.last_result, max_epochs_of(params, default_epochs))
    if status in FINAL_STATUSES:
        end = times[-1] if times else float("inf")  # never reported: placed last
        out.append(_Event(end, 2, trial_id, params, "end", status))
    return out


def _timeline(analysis: Any, fs: pafs.FileSystem, space: Space, default_epochs: int
              ) -> tuple[list[_Event], float | None, float]:
    """Every trial event in the order it happened (never-reported trials' ends placed last),
    the first and the last time a trial reported (None, 0.0 when none did)."""
    timeline = [e for trial in analysis.trials
                for e in _trial_events(trial, fs, space, default_epochs)]
    finite = [e.wall for e in timeline if e.wall != float("inf")]
    last = max(finite, default=0.0)
    for event in timeline:
        if event.wall == float("inf"):
            event.wall = last
    timeline.sort(key=lambda e: (e.wall, e.order, e.trial_id))
    return timeline, min(finite, default=None), last


def _replay(timeline: list[_Event], agg: Aggregator, end: float) -> None:
    for event in timeline:
        if event.kind == "start":
            agg.trial_started(event.trial_id, event.params, event.wall)
        elif event.kind == "result":
            agg.trial_result(event.trial_id, event.params, event.payload, event.wall)
        else:
            agg.trial_ended(event.trial_id, event.params, event.payload, event.wall)
    agg.close(end)


def _install(built: Path, fs: pafs.FileSystem, target: str) -> None:
    """Put the rebuilt folder in place of ``target`` (nothing of the old one is appended to)."""
    if not storage.is_local(fs):
        storage.replace_remote(fs, target, built)
        return
    local_target = Path(target)
    staged = local_target.with_name(local_target.name + ".rebuild")
    if staged.exists():
        shutil.rmtree(staged)
    shutil.copytree(built, staged)
    # `raytuner report` writes its figures to tensorboard/report/: not rebuilt from trial
    # results, so carried over rather than lost.
    report = local_target / REPORT_DIR
    if report.is_dir():
        shutil.copytree(report, staged / REPORT_DIR)
    storage.replace_local(local_target, staged)


def rebuild(location: str | Path, *, filesystem: pafs.FileSystem | None = None) -> str:
    """Rebuild the TensorBoard folder of the run folder at ``location`` (a path or URI, or a
    path on ``filesystem``); returns where it was written."""
    if filesystem is None:
        resolved = resolve_location(location, key=None)
        fs, path = resolved.filesystem, resolved.fs_path
    else:
        fs, path = filesystem, str(location).rstrip("/")
    exp = load_run_experiment(path, filesystem=fs)
    try:
        analysis = ExperimentAnalysis(path, storage_filesystem=fs)
    except Exception as exc:  # no experiment state yet: nothing Ray recorded to rebuild from
        raise ConfigError(f"no Ray Tune experiment state to rebuild from ({exc})",
                          source=str(location)) from None
    timeline, first, last = _timeline(analysis, fs, exp.space, exp.train.epochs)
    built = Path(tempfile.mkdtemp(prefix="raytuner-tensorboard-rebuild-"))
    try:
        agg = Aggregator(built, metric=exp.search.metric, mode=exp.search.mode, space=exp.space,
                         metric_modes={}, known_metrics=reported_metrics(exp), start_time=first)
        _replay(timeline, agg, last)
        target = f"{path}/{TENSORBOARD_DIR}"
        _install(built, fs, target)
        return target
    finally:
        shutil.rmtree(built, ignore_errors=True)
