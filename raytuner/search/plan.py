"""``raytuner plan EXP.yaml``: what a search will spend, before anything is launched.

Trials follow from the search algorithm (:meth:`SearchAlgorithm.count_trials`), training epochs
from the scheduler's arithmetic (:meth:`TrialScheduler.epochs`, e.g. ASHA's rungs in
:mod:`raytuner.search.schedulers.asha`): each registered choice knows its own.

The time per epoch comes from one calibration epoch of the experiment's base configuration on
this machine (:class:`raytuner.trial.loop.Trainer`, no Ray) or from ``--epoch-seconds``. The
wall-clock is ``max(epochs / concurrent trials, longest trial) * epoch time``: trials run side
by side, but one trial's epochs run one after another.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from raytuner.config.schema import Experiment
from raytuner.data import load_dataset
from raytuner.errors import ConfigError
from raytuner.search.schedulers import Budget
from raytuner.search.work import epoch_values, expected_work
from raytuner.text import render_table
from raytuner.trial.loop import Trainer


@dataclass
class Plan:
    """The cost of a search before it runs."""

    algorithm: str
    scheduler: str
    trials: int
    max_t: int
    epochs: Budget
    epoch_seconds: float
    epoch_source: str
    concurrency: int
    wall_seconds: Budget
    details: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def concurrency(exp: Experiment, trials: int, cpus: float, gpus: float) -> int:
    """Trials that run at once with ``cpus``/``gpus`` and ``resources`` per trial."""
    fits = [math.floor(cpus / exp.resources.cpu)]
    if exp.resources.gpu > 0:
        fits.append(math.floor(gpus / exp.resources.gpu))
    slots = min(fits)
    if exp.search.max_concurrent:
        slots = min(slots, exp.search.max_concurrent)
    if slots < 1:
        raise ConfigError(f"one trial needs {exp.resources.cpu:g} CPU and "
                          f"{exp.resources.gpu:g} GPU; {cpus:g} CPU and {gpus:g} GPU cannot "
                          "run it", path="resources")
    return max(1, min(slots, trials))


def calibrate_epoch(exp: Experiment) -> float:
    """Seconds of one training + evaluation epoch of the base configuration on this machine."""
    device = "cuda" if exp.resources.gpu > 0 and torch.cuda.is_available() else "cpu"
    torch.set_num_threads(max(1, int(exp.resources.cpu)))
    trainer = Trainer(exp, load_dataset(exp.data, exp.seed), device)
    return float(trainer.run_epoch()["epoch_time_s"])


def make_plan(exp: Experiment, *, cpus: float | None = None, gpus: float | None = None,
              epoch_seconds: float | None = None) -> Plan:
    """The plan of ``exp``; calibrates one epoch unless ``epoch_seconds`` is given."""
    trials, epochs, details = expected_work(exp)
    max_t = max(epoch_values(exp))
    cfg = exp.search.scheduler
    if epoch_seconds is None:
        epoch_seconds, source = calibrate_epoch(exp), "calibrated: one epoch on this machine"
    else:
        source = "given"
    cpus = float(os.cpu_count() or 1) if cpus is None else cpus
    if gpus is None:
        gpus = float(torch.cuda.device_count())
    if gpus > 0 and exp.resources.gpu == 0:
        details.append("resources.gpu is 0: trials do not use the GPUs")
    slots = concurrency(exp, trials, cpus, gpus)
    # A single trial's epochs are sequential, so the longest trial bounds the wall-clock.
    wall = Budget(*(max(e / slots, min(max_t, e)) * epoch_seconds
                    for e in (epochs.lower, epochs.expected, epochs.upper)))
    return Plan(exp.search.algorithm, cfg.name, trials, max_t, epochs, epoch_seconds, source,
                slots, wall, details)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def render_plan(plan: Plan) -> str:
    """The plan as a text table."""
    rows = [
        ["trials", plan.trials, plan.trials, plan.trials],
        ["training epochs", *(round(v, 1) for v in (plan.epochs.lower, plan.epochs.expected,
                                                      plan.epochs.upper))],
        ["seconds per epoch", *([round(plan.epoch_seconds, 4)] * 3)],
        ["concurrent trials", *([plan.concurrency] * 3)],
        ["wall-clock", *(_duration(v) for v in (plan.wall_seconds.lower,
                                                plan.wall_seconds.expected,
                                                plan.wall_seconds.upper))],
    ]
    head = (f"{plan.algorithm} search, {plan.scheduler} scheduler, max {plan.max_t} epochs per "
            f"trial; epoch time {plan.epoch_source}")
    table = render_table(rows, ["", "lower", "expected", "upper"])
    return "\n".join([head, table, *plan.details])
