"""Smoke mode: any experiment cut down to a run that finishes in seconds.

Two trials, one epoch each (pbt/pb2: two, with a perturbation between them), a small stratified
subset of the data, at most one CPU and no GPU when none is present, and synthetic stand-in data
of the right shape and classes when the real files are absent. The search space, model and
recipe stay as written, so a smoke run checks that the experiment file and everything it names
fit together. The run folder gets a ``-smoke`` suffix so it never replaces the real run's
folder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from raytuner.config.schema import Experiment
from raytuner.config.validate import validate_experiment
from raytuner.data import DATASET_INFO, dataset_present
from raytuner.data.paths import data_root
from raytuner.search.schedulers import SCHEDULERS

SMOKE_TRIALS = 2
SMOKE_EPOCHS = 1
#: pbt/pb2: the fewest epochs with a perturbation between them
SMOKE_POPULATION_EPOCHS = 2
SMOKE_TRAIN_EXAMPLES = 64
SMOKE_VAL_EXAMPLES = 32
#: searched keys smoke mode fixes itself (they would undo its limits)
FIXED_KEYS = frozenset({"train.epochs", "data.subset", "data.val_subset", "data.synthetic"})


def _is_branch(item: Any) -> bool:
    return isinstance(item, dict) and "value" in item and set(item) <= {"value", "space"}


def _smoke_space(space: dict[str, Any]) -> dict[str, Any]:
    """``space`` without :data:`FIXED_KEYS` (in branches too) and with ``grid`` domains as
    ``choice``: a grid would enumerate every value and make more than two trials."""
    out: dict[str, Any] = {}
    for key, spec in space.items():
        if key in FIXED_KEYS:
            continue
        if isinstance(spec, dict):
            spec = dict(spec)
            if "grid" in spec:
                spec["choice"] = spec.pop("grid")
            if isinstance(spec.get("choice"), list):
                spec["choice"] = [
                    {**item, "space": _smoke_space(item.get("space") or {})}
                    if _is_branch(item) else item for item in spec["choice"]]
        out[key] = spec
    return out


def _smaller(current: int | float | None, limit: int | float) -> int | float:
    return limit if current is None else min(current, limit)


def smoke_name(name: str) -> str:
    """The run folder name of the smoke version of the experiment ``name``."""
    return f"{name[:120]}-smoke"


def smoke_experiment(exp: Experiment, *, say: Callable[[str], None] = print) -> Experiment:
    """The smoke version of ``exp``; ``say`` gets one line per change worth knowing."""
    raw = exp.to_dict()
    raw["name"] = smoke_name(exp.name)
    raw["train"]["epochs"] = SMOKE_EPOCHS
    search = raw["search"]
    search["num_samples"] = SMOKE_TRIALS
    # one epoch per trial: an early-stopping grace period must fit in it
    search["scheduler"]["grace_period"] = 1
    stopping = raw["train"].get("early_stopping") or {}
    if stopping.get("patience") is not None:
        stopping["patience"] = min(stopping["patience"], SMOKE_EPOCHS)
    search["max_concurrent"] = _smaller(search.get("max_concurrent"), SMOKE_TRIALS)
    if search["algorithm"] == "grid":
        search["algorithm"] = "random"
    if SCHEDULERS.get(search["scheduler"]["name"]).factory.population:
        # pbt/pb2 change a trial between epochs: two epochs and one decision between them
        raw["train"]["epochs"] = SMOKE_POPULATION_EPOCHS
        search["scheduler"].update(perturbation_interval=1, burn_in_period=0)
        say(f"smoke: {search['scheduler']['name']} trains {SMOKE_POPULATION_EPOCHS} epochs "
            "per trial, perturbing after the first")
    search["space"] = _smoke_space(search["space"])
    search["points_to_evaluate"] = [
        {k: v for k, v in point.items() if k not in FIXED_KEYS}
        for point in search["points_to_evaluate"][:SMOKE_TRIALS]]
    data = raw["data"]
    data["subset"] = _smaller(data.get("subset"), SMOKE_TRAIN_EXAMPLES)
    data["val_subset"] = _smaller(data.get("val_subset"), SMOKE_VAL_EXAMPLES)
    if not data["synthetic"] and not dataset_present(exp.data):
        info = DATASET_INFO[exp.data.name]
        shape, classes = info.shape(exp.data)
        where = info.where(exp.data) if info.where else data_root(exp.data)
        data["synthetic"] = True
        say(f"smoke: {exp.data.name} files are not in {where}; using synthetic "
            f"stand-in data: {SMOKE_TRAIN_EXAMPLES} + {SMOKE_VAL_EXAMPLES} random images of "
            f"shape {shape}, {classes} classes (metrics mean nothing)")
    resources = raw["resources"]
    if resources["gpu"] > 0 and not torch.cuda.is_available():
        say(f"smoke: no GPU on this machine; trials run on the CPU (resources.gpu "
            f"{resources['gpu']} -> 0)")
        resources["gpu"] = 0.0
    if resources["cpu"] > 1:
        resources["cpu"] = 1.0
    say(f"smoke: {SMOKE_TRIALS} trials, {SMOKE_EPOCHS} epoch, at most "
        f"{data['subset']} training and {data['val_subset']} validation examples; run folder "
        f"name {raw['name']}")
    return validate_experiment(raw, source=f"{exp.name} (smoke mode)")
