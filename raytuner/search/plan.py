"""``raytuner plan EXP.yaml``: what a search will spend, before anything is launched.

Trials follow from the search algorithm (:meth:`SearchAlgorithm.count_trials`), training epochs
from the scheduler's arithmetic (:meth:`TrialScheduler.epochs`, e.g. ASHA's rungs in
:mod:`raytuner.search.schedulers.asha`): each registered choice knows its own.

The seconds come from a calibration on this machine (:mod:`raytuner.runs.calibrate`, in a child
process, so that planning imports neither torch nor Ray): one epoch of the base configuration and
of the space's two corners, one checkpoint, the imports and first model of a trial process, and
a local Ray's start. The wall-clock is the fixed costs (Ray's start, then the trial processes'
start) plus ``max(epochs / concurrent trials, longest trial) * seconds per epoch``: trials run
side by side, but one trial's epochs run one after another. Each bound takes its own epoch time:
the lower the fastest measured configuration, the expected their mean, the upper the slowest,
slowed by the driver's share of the cores when the trials fill them. ``--epoch-seconds`` skips
the calibration: then the bounds are epochs times that figure, start-up not included.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from raytuner.config.schema import Experiment
from raytuner.errors import ConfigError, RunError
from raytuner.search.schedulers import Budget
from raytuner.search.work import epoch_values, expected_work
from raytuner.text import render_table

#: share of a core the driver (Tune's loop, its callbacks) takes from trials that fill the cores
DRIVER_SHARE = 0.5


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
    #: the calibration's measurements (seconds), empty with ``--epoch-seconds``
    calibration: dict[str, Any] = field(default_factory=dict)
    #: seconds per epoch each bound uses (checkpoint and report included)
    per_epoch: Budget | None = None

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


def calibrate(exp: Experiment) -> dict[str, Any]:
    """The measurements of :mod:`raytuner.runs.calibrate` for ``exp``, from a child process."""
    proc = subprocess.run([sys.executable, "-m", "raytuner.runs.calibrate"],
                          input=json.dumps(exp.to_dict()), capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RunError(f"calibrating the plan failed: {last}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _visible_gpus() -> float:
    """GPUs this machine shows, without importing torch (the calibration counts them too)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return float(len([d for d in visible.split(",") if d.strip() not in ("", "-1")]))
    gpus = "/proc/driver/nvidia/gpus"
    return float(len(os.listdir(gpus))) if os.path.isdir(gpus) else 0.0


def _wall(epochs: Budget, slots: int, max_t: int, per_epoch: tuple[float, float, float],
          fixed: float) -> Budget:
    # A single trial's epochs are sequential, so the longest trial bounds the wall-clock.
    return Budget(*(fixed + max(e / slots, min(max_t, e)) * seconds for e, seconds in
                    zip((epochs.lower, epochs.expected, epochs.upper), per_epoch, strict=True)))


def make_plan(exp: Experiment, *, cpus: float | None = None, gpus: float | None = None,
              epoch_seconds: float | None = None) -> Plan:
    """The plan of ``exp``; calibrates on this machine unless ``epoch_seconds`` is given."""
    trials, epochs, details = expected_work(exp)
    max_t = max(epoch_values(exp))
    cfg = exp.search.scheduler
    measured = calibrate(exp) if epoch_seconds is None else {}
    cpus = float(os.cpu_count() or 1) if cpus is None else cpus
    if gpus is None:
        gpus = float(measured.get("cuda_devices", _visible_gpus()))
    if gpus > 0 and exp.resources.gpu == 0:
        details.append("resources.gpu is 0: trials do not use the GPUs")
    slots = concurrency(exp, trials, cpus, gpus)
    if epoch_seconds is not None:
        wall = _wall(epochs, slots, max_t, (epoch_seconds,) * 3, 0.0)
        return Plan(exp.search.algorithm, cfg.name, trials, max_t, epochs, epoch_seconds,
                    "given (start-up not included)", slots, wall, details)
    times = list(measured["epochs"].values())
    # a result with its checkpoint: written by the trial, then Tune's round trip
    overhead = measured["checkpoint_s"] + measured["report_s"]
    # trials that fill the cores share them with the driver
    crowded = 1 + DRIVER_SHARE / cpus if slots * exp.resources.cpu >= cpus else 1.0
    per_epoch = (min(times) + overhead, statistics.fmean(times) + overhead,
                 max(times) * crowded + overhead)
    # Ray's start, then the first trial process: Ray's worker start, the trial code's imports
    # and the first model (a probe trial's actor imports less than a real one: the larger)
    process = max(measured["actor_start_s"],
                  measured["import_s"] + measured["first_trainer_s"])
    fixed = measured["ray_start_s"] + process
    wall = _wall(epochs, slots, max_t, per_epoch, fixed)
    details.append(f"start-up {fixed:.1f} s (Ray {measured['ray_start_s']:.1f} s, a trial "
                   f"process {process:.1f} s); "
                   f"per epoch {per_epoch[0]:.3f}-{per_epoch[2]:.3f} s over the base "
                   f"configuration and the space's corners, checkpoint and report included")
    return Plan(exp.search.algorithm, cfg.name, trials, max_t, epochs,
                measured["epochs"]["base"], "calibrated on this machine", slots, wall,
                details, measured, Budget(*per_epoch))


def _bounds(budget: Budget) -> tuple[float, float, float]:
    return budget.lower, budget.expected, budget.upper


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
        ["seconds per epoch", *(round(v, 4) for v in _bounds(
            plan.per_epoch or Budget(*([plan.epoch_seconds] * 3))))],
        ["concurrent trials", *([plan.concurrency] * 3)],
        ["wall-clock", *(_duration(v) for v in (plan.wall_seconds.lower,
                                                plan.wall_seconds.expected,
                                                plan.wall_seconds.upper))],
    ]
    head = (f"{plan.algorithm} search, {plan.scheduler} scheduler, max {plan.max_t} epochs per "
            f"trial; epoch time {plan.epoch_source}")
    table = render_table(rows, ["", "lower", "expected", "upper"])
    return "\n".join([head, table, *plan.details])
