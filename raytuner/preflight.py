"""Checks before anything runs: options that contradict each other, resources this machine
cannot provide, and run names that would overwrite (or silently diverge from) an existing run.

All of them raise :class:`~raytuner.errors.ConfigError` before Ray starts and before anything is
written, so a typo costs a second, not a cluster allocation or an earlier run's results.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from raytuner.config import Experiment
from raytuner.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# Options that contradict each other (part of validation: `raytuner validate` reports them)


def check_consistency(exp: Experiment) -> None:
    """Refuse settings that cannot all hold at once; each error names the key to change."""
    from raytuner.space import all_params, max_value, parse_space

    space = parse_space(exp.search.space)
    searched = {p.path for p in all_params(space)}
    _check_mode_matches_metric(exp)
    _check_grace_period(exp, int(max_value(space, "train.epochs", exp.train.epochs)))
    _check_nesterov(exp, searched)
    gpu = exp.resources.gpu
    if gpu > 1 and not float(gpu).is_integer():
        raise ConfigError(f"{gpu:g} GPUs per trial: Ray shares a GPU only in fractions up to 1; "
                          "use a whole number above 1 (e.g. 2) or a fraction such as 0.5",
                          path="resources.gpu")


def _check_mode_matches_metric(exp: Experiment) -> None:
    from raytuner.metrics import EPOCH_METRICS

    # An error, not a warning: minimizing an accuracy (or maximizing a loss) silently spends
    # the whole budget searching for the worst model; nobody wants that by accident.
    direction = EPOCH_METRICS.get(exp.search.metric, "")
    if direction in ("min", "max") and direction != exp.search.mode:
        better = "higher" if direction == "max" else "lower"
        raise ConfigError(f"mode {exp.search.mode!r} contradicts search.metric "
                          f"{exp.search.metric!r}, which is better when {better}; "
                          f"use mode: {direction}", path="search.mode")


def _check_grace_period(exp: Experiment, longest: int) -> None:
    scheduler = exp.search.scheduler
    if scheduler.name == "asha" and scheduler.grace_period > longest:
        raise ConfigError(f"grace_period {scheduler.grace_period} is longer than the longest "
                          f"trial ({longest} epochs, train.epochs): ASHA could never stop a "
                          f"trial early; use at most {longest}, or scheduler name fifo",
                          path="search.scheduler.grace_period")


def _check_nesterov(exp: Experiment, searched: set[str]) -> None:
    train = exp.train
    if not train.nesterov:
        return
    if train.optimizer != "sgd" and "train.optimizer" not in searched:
        raise ConfigError(f"nesterov applies to optimizer sgd only (optimizer is "
                          f"{train.optimizer!r}); remove it or use optimizer: sgd",
                          path="train.nesterov")
    if train.momentum == 0 and "train.momentum" not in searched:
        raise ConfigError("nesterov needs momentum > 0 (momentum is 0); set train.momentum "
                          "or remove nesterov", path="train.nesterov")


# ---------------------------------------------------------------------------------------------
# Resources of this machine (only when Ray will start here)


def local_cpu_count() -> int:
    """CPUs this process may use (respects taskset/cgroup CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_local_resources(exp: Experiment, address: str | None, *,
                          source: str | None = None) -> None:
    """With no cluster address, Ray starts on this machine: refuse a trial that needs more
    GPUs or CPUs than the machine has (it would wait forever for a node that never comes)."""
    import torch

    ray = sys.modules.get("ray")  # not imported: certainly not started (and stays so here)
    if address or os.environ.get("RAY_ADDRESS") or (ray is not None and ray.is_initialized()):
        return  # a cluster: the cluster checks compare with its nodes once Ray is up
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if exp.resources.gpu > gpus:
        have = f"{gpus} GPU(s)" if gpus else "no GPU"
        raise ConfigError(f"{exp.resources.gpu:g} GPU(s) per trial, but this machine has {have}"
                          " and no --address was given; set resources.gpu: 0 to train on the "
                          "CPU, or run on a GPU cluster with --address", source=source,
                          path="resources.gpu")
    cpus = local_cpu_count()
    if exp.resources.cpu > cpus:
        raise ConfigError(f"{exp.resources.cpu:g} CPUs per trial, but this machine has {cpus} "
                          "and no --address was given; use at most "
                          f"{cpus}, or run on a cluster with --address", source=source,
                          path="resources.cpu")


# ---------------------------------------------------------------------------------------------
# Run folders: `raytuner run --resume`


def existing_run(storage: str | Path | None, name: str) -> Path | None:
    """The run folder ``storage/name`` when it already holds a run, else None."""
    from raytuner.storage import default_storage, localize_run_dir

    storage = default_storage(storage)
    if "://" in str(storage):  # a URI run: its refreshed local mirror
        try:
            mirror = localize_run_dir(f"{str(storage).rstrip('/')}/{name}")
        except ConfigError:
            return None
        return mirror if (mirror / "experiment.yaml").is_file() else None
    run_dir = Path(storage).expanduser().resolve() / name
    return run_dir if run_dir.is_dir() and any(run_dir.iterdir()) else None


def _first_difference(a: Any, b: Any, keys: tuple = ()) -> tuple | None:
    """Keys of the first place where ``a`` and ``b`` differ, or None when equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return (*keys, key)
            found = _first_difference(a[key], b[key], (*keys, key))
            if found:
                return found
        return None
    return None if a == b else keys


def _lookup(data: Any, keys: tuple) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return "<absent>"
        data = data[key]
    return data


def check_same_experiment(run_dir: Path, exp: Experiment, *, source: str | None = None) -> None:
    """``run --resume`` continues the run as saved in its experiment.yaml (the source of truth
    of a run); refuse when the given experiment differs, naming the first different key."""
    from raytuner.summary import EXPERIMENT_FILE, load_run_experiment

    saved = load_run_experiment(run_dir).to_dict()
    given = exp.to_dict()
    keys = _first_difference(saved, given)
    if keys is None:
        return
    raise ConfigError(f"differs from the run being resumed ({run_dir / EXPERIMENT_FILE} has "
                      f"{_lookup(saved, keys)!r}, this experiment {_lookup(given, keys)!r}); a "
                      "resumed run keeps its saved experiment: drop the change, use --name for "
                      "a new run, or --overwrite to replace it", source=source,
                      path=".".join(map(str, keys)) or None)


def start_or_resume(exp: Experiment, storage: str | Path | None, name: str, *,
                    overwrite: bool) -> tuple[Path | None, bool]:
    """For ``raytuner run --resume``: ``(run folder to continue, False)`` when a run of the same
    experiment exists (checked) and Ray saved its state; ``(None, True)`` when the folder holds
    the same experiment but no state to resume (stopped before Tune's first save: nothing to
    lose, start it again in place); ``(None, False)`` when there is no such run yet."""
    if overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: --resume continues "
                          "the existing run, --overwrite deletes it; pick one")
    run_dir = existing_run(storage, name)
    if run_dir is None:
        return None, False
    check_same_experiment(run_dir, exp)
    from ray import tune

    from raytuner.storage import ray_run_path

    if tune.Tuner.can_restore(ray_run_path(run_dir)):
        return run_dir, False
    return None, True
