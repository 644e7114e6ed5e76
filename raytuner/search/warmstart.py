"""Warm starts: seed a new experiment's HyperOpt or Optuna searcher with an earlier run's
results.

``search.warm_start: RUN_DIR`` reads every trial of that run that reported the search metric and
keeps those whose training configuration the new experiment can produce: values of keys the new
space searches must lie in the new space, and every other setting of ``data``, ``model`` and
``train`` must equal the new experiment's (``train.epochs`` excepted: an old result simply counts
for the epochs it trained). Trials outside the new space are dropped with a note.

The kept trials go into HyperOpt's ``Trials`` object (or Optuna's study) as *finished* trials
with their results, so TPE models them from the first suggestion (they also count toward
``n_initial_points``), and no budget is spent re-evaluating them. Random and grid search do
not learn from results, so a warm start does not apply to them (a note says so).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from raytuner.after.summary import read_or_build_summary
from raytuner.config.overrides import get_dotted
from raytuner.config.schema import Experiment
from raytuner.config.validate import with_params
from raytuner.errors import ConfigError
from raytuner.runs.folder import load_run_experiment
from raytuner.search.searchers import SEARCHERS, WarmPoint
from raytuner.search.space import Param, active_params, all_params, nest_point

log = logging.getLogger("raytuner")

#: Settings allowed to differ between the old trial and the new experiment.
IGNORED_SETTINGS = {"train.epochs"}


def check_warm_start(exp: Experiment) -> None:
    """ConfigError unless ``search.warm_start`` names a readable run folder (checked before
    anything starts); a note when the algorithm cannot use it."""
    if not exp.search.warm_start:
        return
    folder = Path(exp.search.warm_start).expanduser()
    try:
        load_run_experiment(folder)
    except ConfigError as exc:
        raise ConfigError(f"{exp.search.warm_start!r} is not a usable run folder: {exc}",
                          path="search.warm_start") from None
    if not SEARCHERS.get(exp.search.algorithm).factory.learns_from_results:
        log.warning("search.warm_start: %s search does not learn from earlier results; the "
                    "warm start does not apply and is ignored", exp.search.algorithm)


def _settings(exp: Experiment) -> dict[str, Any]:
    raw = exp.to_dict()
    return {section: raw[section] for section in ("data", "model", "train")}


def _diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested mappings."""
    keys = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _diff(a, b, f"{path}.")
        elif a != b and path not in IGNORED_SETTINGS:
            keys.append(path)
    return keys


def _fit_point(record: dict[str, Any], old_exp: Experiment, new_exp: Experiment,
               space: list[Param]) -> tuple[dict[str, Any] | None, str]:
    """(params in the new space, "") or (None, why the old trial does not fit)."""
    old_resolved = with_params(old_exp, record["config"])
    old_raw = old_resolved.to_dict()
    flat = {}
    for p in all_params(space):
        # A key the old trial has no value for matters only on a branch it takes: nest_point
        # reports it then.
        with contextlib.suppress(KeyError):
            flat[p.path] = get_dotted(old_raw, p.path)
    try:
        nest_point(space, flat, where="search.warm_start")
    except ConfigError as exc:
        return None, str(exc).split(": ", 1)[-1]
    params = active_params(space, flat)
    differ = _diff(_settings(old_resolved), _settings(with_params(new_exp, params)))
    if differ:
        key = differ[0]
        return None, (f"{key} differs ({get_dotted(old_raw, key)!r} there, not searched "
                      f"here)")
    return params, ""


def warm_points(exp: Experiment) -> list[WarmPoint]:
    """The earlier run's trials that fit ``exp``'s space, with their results (none when the
    experiment has no warm start or its algorithm does not learn from results)."""
    if not exp.search.warm_start or not SEARCHERS.get(exp.search.algorithm).factory \
            .learns_from_results:
        return []
    space = exp.space
    folder = Path(exp.search.warm_start or "").expanduser()
    old_exp = load_run_experiment(folder)
    summary = read_or_build_summary(folder)
    same_metric = summary["metric"] == exp.search.metric and summary["mode"] == exp.search.mode
    points, dropped = [], []
    for record in summary["trials"]:
        reward = record["best"] if same_metric else record["metrics"].get(exp.search.metric)
        if reward is None:
            dropped.append((record["trial_id"], f"it reported no {exp.search.metric}"))
            continue
        params, why = _fit_point(record, old_exp, exp, space)
        if params is None:
            dropped.append((record["trial_id"], why))
            continue
        points.append(WarmPoint(record["trial_id"], params, float(reward)))
    for trial_id, why in dropped:
        log.warning("search.warm_start: dropped trial %s of %s: %s", trial_id, folder, why)
    log.warning("search.warm_start: seeded the searcher with %d of %d trials of %s",
                len(points), len(summary["trials"]), folder)
    return points
