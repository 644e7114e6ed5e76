"""Hyperparameter importance over the finished trials: random-forest permutation importance.

A random forest (scikit-learn) learns each trial's best search metric from its
hyperparameters; a hyperparameter's importance is how much the forest's fit (R^2) drops when
that hyperparameter's column is shuffled (``sklearn.inspection.permutation_importance``).
Categorical hyperparameters are one-hot encoded inside the model pipeline, so the shuffle still
moves the whole parameter. A conditional hyperparameter a trial did not use is its own category
("absent") for categorical ones and a missing value for numeric ones, which scikit-learn's
forests route as a separate branch.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from raytuner.after.report.leaderboard import FINISHED
from raytuner.search.space import Param, Space, all_params

MIN_TRIALS = 4
ABSENT = "<absent>"


def _param_kinds(space: list[Param]) -> dict[str, Param]:
    kinds: dict[str, Param] = {}
    for param in all_params(space):
        kinds.setdefault(param.path, param)
    return kinds


def _frame(trials: list[dict[str, Any]], params: dict[str, Param]):
    """(features DataFrame, categorical column names)."""
    columns: dict[str, list[Any]] = {}
    categorical = []
    for path, param in params.items():
        if param.kind in ("choice", "grid"):
            categorical.append(path)
            columns[path] = [str(t["config"].get(path, ABSENT)) if path in t["config"]
                             else ABSENT for t in trials]
        else:
            values = [t["config"].get(path) for t in trials]
            # Log-scaled ranges are learned in log space, where they were sampled.
            columns[path] = [math.nan if v is None else
                             (math.log10(v) if param.log and v > 0 else float(v))
                             for v in values]
    return pd.DataFrame(columns), categorical


def importance(summary: dict[str, Any], space: Space, *, seed: int = 0,
               repeats: int = 20) -> dict[str, Any]:
    """``{"method", "num_trials", "params": [{param, importance, std, share}], "note"}``;
    params sorted most important first. With too few finished trials, ``params`` is empty
    and ``note`` says why."""
    params = _param_kinds(space)
    trials = [t for t in summary["trials"] if t["status"] in FINISHED and t["best"] is not None]
    result: dict[str, Any] = {"method": "random-forest permutation importance (scikit-learn)",
                              "num_trials": len(trials), "params": [], "note": None}
    if not params:
        result["note"] = "nothing was searched"
        return result
    if len(trials) < MIN_TRIALS:
        result["note"] = (f"{len(trials)} finished trial(s); importance needs at least "
                          f"{MIN_TRIALS}")
        return result
    features, categorical = _frame(trials, params)
    target = [float(t["best"]) for t in trials]
    encoder = ColumnTransformer(
        [("categorical", OneHotEncoder(handle_unknown="ignore"), categorical)],
        remainder="passthrough")
    model = Pipeline([("encode", encoder), ("forest", RandomForestRegressor(
        n_estimators=200, min_samples_leaf=1, random_state=seed))])
    model.fit(features, target)
    scores = permutation_importance(model, features, target, n_repeats=repeats,
                                    random_state=seed)
    positive = [max(0.0, float(v)) for v in scores.importances_mean]
    total = sum(positive) or 1.0
    rows = [{"param": name, "importance": float(mean), "std": float(std),
             "share": pos / total}
            for name, mean, std, pos in zip(features.columns, scores.importances_mean,
                                            scores.importances_std, positive, strict=True)]
    rows.sort(key=lambda r: r["importance"], reverse=True)
    result["params"] = rows
    return result
