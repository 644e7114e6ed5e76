"""Warm starts: seed a new experiment's HyperOpt searcher with an earlier run's results.

``search.warm_start: RUN_DIR`` reads every trial of that run that reported the search metric and
keeps those whose training configuration the new experiment can produce: values of keys the new
space searches must lie in the new space, and every other setting of ``data``, ``model`` and
``train`` must equal the new experiment's (``train.epochs`` excepted: an old result simply counts
for the epochs it trained). Trials outside the new space are dropped with a note.

The kept trials go into HyperOpt's ``Trials`` object as *finished* trials with their losses, so
TPE models them from the first suggestion (they also count toward ``n_initial_points``), and
no budget is spent re-evaluating them. Random and grid search do not learn from results, so a
warm start does not apply to them (a note says so).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytuner.config.schema import Experiment
from raytuner.config.validate import get_dotted, with_params
from raytuner.errors import ConfigError
from raytuner.search.space import Param, all_params, hyperopt_point, nest_point

log = logging.getLogger("raytuner")

#: HyperOpt trial ids of seeded results start here, far from the ids Ray's searcher hands out
#: (0, 1, 2, ...), so TPE never mixes a seeded result with a new trial's values.
TID_OFFSET = 1_000_000_000
#: Settings allowed to differ between the old trial and the new experiment.
IGNORED_SETTINGS = {"train.epochs"}


@dataclass
class WarmPoint:
    """One earlier trial that fits the new space: its params there and its result."""

    trial_id: str
    params: dict[str, Any]
    reward: float


def check_warm_start(exp: Experiment) -> None:
    """ConfigError unless ``search.warm_start`` names a readable run folder (checked before
    anything starts); a note when the algorithm cannot use it."""
    if not exp.search.warm_start:
        return
    from raytuner.run.rundir import load_run_experiment

    folder = Path(exp.search.warm_start).expanduser()
    try:
        load_run_experiment(folder)
    except ConfigError as exc:
        raise ConfigError(f"{exp.search.warm_start!r} is not a usable run folder: {exc}",
                          path="search.warm_start") from None
    if exp.search.algorithm != "hyperopt":
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


def active_params(space: list[Param], flat: dict[str, Any]) -> dict[str, Any]:
    """The values of ``flat`` on the branches it chooses (inactive branches left out)."""
    out: dict[str, Any] = {}
    for p in space:
        value = flat[p.path]
        out[p.path] = value
        for option in p.options:
            if option.value == value:
                out.update(active_params(option.subspace, flat))
    return out


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


def warm_points(exp: Experiment, space: list[Param]) -> list[WarmPoint]:
    """The earlier run's trials that fit ``exp``'s space, with their results."""
    from raytuner.after.summary import read_or_build_summary
    from raytuner.run.rundir import load_run_experiment

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


def seed_hyperopt_trials(trials, space: list[Param], points: list[WarmPoint], mode: str,
                         labels: list[str]) -> None:
    """Insert ``points`` into a HyperOpt ``Trials`` object as finished trials.

    HyperOpt minimizes, so a reward maximized by the search becomes ``loss = -reward`` (the
    sign Ray's ``HyperOptSearch`` uses for the trials it runs itself).
    """
    from hyperopt import JOB_STATE_DONE, STATUS_OK
    from hyperopt.fmin import generate_trial

    sign = -1.0 if mode == "max" else 1.0
    docs = []
    for i, point in enumerate(points):
        tid = TID_OFFSET + i
        doc = generate_trial(tid, hyperopt_point(space, point.params))
        for label in labels:  # labels of branches not taken: empty, as HyperOpt writes them
            doc["misc"]["idxs"].setdefault(label, [])
            doc["misc"]["vals"].setdefault(label, [])
        doc["state"] = JOB_STATE_DONE
        doc["result"] = {"loss": sign * point.reward, "status": STATUS_OK}
        docs.append(copy.deepcopy(doc))
    if docs:
        trials.insert_trial_docs(docs)
        trials.refresh()
