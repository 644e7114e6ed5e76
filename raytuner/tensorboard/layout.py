"""Names in the aggregated TensorBoard folder: runs, tags, statuses, the HParams domains.

Layout of ``<run_dir>/tensorboard/``::

    experiment/                    HParams config; best-so-far and trial-count curves
    trials/<trial_id>,lr=...,.../  one run per trial: its curves and its HParams session
"""

from __future__ import annotations

import math
import re
from typing import Any

from raytuner.config.metrics import direction
from raytuner.search.space import Param, describe, searched_paths
from raytuner.trial.status import FINAL_STATUSES

EXPERIMENT_RUN = "experiment"
TRIALS_DIR = "trials"

#: final status words (raytuner.trial.status) and their code in the ``trial/status`` metric
STATUS_CODES = {status: code for code, status in enumerate(FINAL_STATUSES, start=1)}
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}
STATUS_TAGS = ["running", *STATUS_CODES]

#: TensorBoard's first view (its Time Series dashboard) shows tag groups, the part of a tag
#: before its first "/", in alphabetical order (checked in a real browser by
#: tests/tensorboard/test_first_view.py). These two groups sort before every letter: first the
#: experiment's curves (best so far against epochs and seconds), then every trial's validation
#: metrics; the per-trial details (best/, perf/, train/, trial/) after them.
SEARCH_GROUP = "1_search"
VAL_GROUP = "2_val"

EPOCHS_TAG = "trial/epochs"
STATUS_TAG = "trial/status"
STOPPED_AT_TAG = "trial/stopped_at_epoch"
EPOCHS_TOTAL_TAG = f"{SEARCH_GROUP}/epochs_vs_seconds"

# Keys Ray adds to every result, and bookkeeping keys of ours: not curves.
_NOT_METRICS = {"epoch", "diverged", "done", "trial_id", "experiment_tag", "should_checkpoint",
                "iterations_since_restore", "time_since_restore", "timesteps_since_restore",
                "training_iteration", "time_total_s", "time_this_iter_s", "timestamp",
                "episodes_total", "timesteps_total", "pid", "hostname", "node_ip", "date",
                "checkpoint_dir_name", "config"}
_SPLIT_PREFIXES = ("train_", "val_", "test_")
_PERF_KEYS = {"epoch_time_s", "samples_per_s"}


def metric_tag(name: str) -> str:
    """Readable tag of a reported metric: ``val_accuracy`` -> ``2_val/accuracy`` (see
    :data:`VAL_GROUP`), ``train_loss`` -> ``train/loss``."""
    for prefix in _SPLIT_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            group = VAL_GROUP if prefix == "val_" else prefix[:-1]
            return f"{group}/{name[len(prefix):]}"
    if name in _PERF_KEYS:
        return f"perf/{name}"
    return name


def best_tag(name: str) -> str:
    return f"best/{name}"


def is_metric(name: str, value: Any) -> bool:
    """True for what a trial reported as a number per epoch (not Ray's bookkeeping)."""
    return (name not in _NOT_METRICS and not name.startswith("config/")
            and isinstance(value, (int, float)) and not isinstance(value, bool))


def metric_mode(name: str, known: dict[str, str]) -> str:
    """'min', 'max' or '' (no best value makes sense, e.g. the learning rate): ``known``
    first (the search metric's mode), else the metric catalogue's direction."""
    if name in known:
        return known[name]
    return direction(name)


def search_tags(metric: str) -> tuple[str, str]:
    """(best vs cumulative epochs, best vs seconds) tags of the experiment run."""
    return (f"{SEARCH_GROUP}/best_{metric}_vs_epochs",
            f"{SEARCH_GROUP}/best_{metric}_vs_seconds")


# ---------------------------------------------------------------------------------------------
# Runs and HParams


def hparam_value(value: Any) -> bool | int | float | str:
    """A value HParams can hold (bool, number or string)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def domains(space: list[Param]) -> dict[str, Any]:
    """HParams domain of each searched path (from :func:`raytuner.search.space.describe`)."""
    out: dict[str, Any] = {}
    for path, info in describe(space).items():
        if info["kind"] in ("choice", "grid"):
            out[path] = ("discrete", _one_type([hparam_value(v) for v in info["values"]]))
        elif info["kind"] == "int":
            out[path] = ("int", info["low"], info["high"])
        else:
            out[path] = ("interval", info["low"], info["high"])
    return out


def _one_type(values: list[Any]) -> list[Any]:
    """A discrete domain holds one type: ints and floats become floats, other mixes text."""
    kinds = {type(v) for v in values}
    if kinds <= {int, float} and len(kinds) > 1:
        return [float(v) for v in values]
    if len(kinds) > 1:
        return [str(v) for v in values]
    return values


def session_hparams(params: dict[str, Any], space_domains: dict[str, Any]) -> dict[str, Any]:
    """A trial's params as HParams values, typed like their domain."""
    out = {}
    for path, value in params.items():
        value = hparam_value(value)
        domain = space_domains.get(path)
        if domain and domain[0] == "discrete" and domain[1] and isinstance(domain[1][0], str):
            value = str(value)
        out[path] = value
    return out


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def run_name(trial_id: str, params: dict[str, Any], space: list[Param], keys: int = 3) -> str:
    """``trials/<trial_id>,lr=0.003,channels=32,...``: the id and the first searched values."""
    paths = [p for p in searched_paths(space) if p in params]
    short = [p.rsplit(".", 1)[-1] for p in paths]
    parts = [trial_id]
    for path, name in list(zip(paths, short, strict=True))[:keys]:
        label = name if short.count(name) == 1 else path
        parts.append(f"{label}={_short(params[path])}")
    safe = re.sub(r"[^A-Za-z0-9_.=,+-]", "_", ",".join(parts))
    return f"{TRIALS_DIR}/{safe[:120]}"


def final_value(value: Any) -> float:
    """A reported number as the float TensorBoard stores."""
    number = float(value)
    return number if math.isfinite(number) else float("nan")
