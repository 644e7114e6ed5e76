"""``raytuner plan EXP.yaml``: what a search will spend, before anything is launched.

Trials and training epochs follow from the search algorithm and the scheduler's arithmetic:

- FIFO: every trial trains ``train.epochs`` (exact; a range when ``train.epochs`` is searched).
- ASHA (Ray's asynchronous successive halving): bracket ``s`` has rungs at
  ``grace * eta**(k+s)`` below ``max_t``. Lower bound: every trial trains to its first rung and
  one trial to ``max_t`` (the first trial at a rung is never stopped). Expected: a share
  ``1/eta`` of the trials passes each rung. Upper bound: no trial is ever stopped,
  ``trials * max_t`` (asynchronous halving promises no less).
- Hyperband (Ray's synchronous version): trials fill brackets ``s = 0, 1, ...`` of ``n0(s) =
  ceil(s_max_1 / (s+1) * eta**s)`` trials starting at ``r0(s) = max_t / eta**s`` epochs; each
  halving keeps ``ceil(n / eta)`` trials and multiplies the epochs by ``eta``. Expected = lower =
  that simulation; upper = ``trials * max_t``.

The time per epoch comes from one calibration epoch of the experiment's base configuration on
this machine (``raytuner.train.Trainer``, no Ray) or from ``--epoch-seconds``. The wall-clock is
``max(epochs / concurrent trials, longest trial) * epoch time``: trials run side by side, but
one trial's epochs run one after another.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from raytuner.config.schema import Experiment
from raytuner.errors import ConfigError
from raytuner.search.space import Param, all_params, grid_size, parse_space


@dataclass
class Budget:
    """Lower, expected and upper values of one quantity."""

    lower: float
    expected: float
    upper: float


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


def count_trials(exp: Experiment, space: list[Param]) -> int:
    """Trials the search algorithm creates."""
    n = exp.search.num_samples
    if exp.search.algorithm == "grid":
        return grid_size(space) * n
    if exp.search.algorithm == "random":
        # Ray expands every `grid` domain of a random search into all of its values.
        for param in space:
            if param.kind == "grid":
                n *= len(param.options)
    return n


def _epoch_values(exp: Experiment, space: list[Param]) -> list[int]:
    values = [v for p in all_params(space) if p.path == "train.epochs"
              for v in (p.finite_values() or p.representative_values())]
    return [int(v) for v in values] or [exp.train.epochs]


def asha_rungs(grace: int, max_t: int, eta: float, s: int) -> list[int]:
    """Milestones of ASHA bracket ``s``, ascending (Ray's ``_Bracket`` arithmetic)."""
    count = int(math.log(max_t / grace) / math.log(eta) - s + 1)
    return sorted(grace * eta ** (k + s) for k in range(max(count, 0)))


def asha_epochs(n: int, grace: int, max_t: int, eta: float, brackets: int,
                min_epochs: int | None = None) -> Budget:
    """Lower, expected and upper total epochs of ``n`` trials under ASHA."""
    # Ray assigns a trial to bracket s with probability proportional to e**(rungs_s).
    rungs = [asha_rungs(grace, max_t, eta, s) for s in range(brackets)]
    weights = [math.exp(len(r) - max(len(x) for x in rungs)) for r in rungs]
    expected = 0.0
    for bracket_rungs, weight in zip(rungs, weights, strict=True):
        share = n * weight / sum(weights)
        marks = [m for m in bracket_rungs if m < max_t] + [max_t]
        total, alive, previous = 0.0, share, 0.0
        for k, mark in enumerate(marks):
            total += alive * (min(mark, max_t) - previous)
            previous = min(mark, max_t)
            if k < len(marks) - 1:
                alive /= eta
        expected += total
    first = min(min(r[0] for r in rungs if r) if any(rungs) else max_t, max_t,
                min_epochs or max_t)
    lower = (n - 1) * first + max_t if n else 0
    return Budget(float(lower), max(expected, float(lower)), float(n * max_t))


def hyperband_epochs(n: int, max_t: int, eta: float) -> tuple[Budget, list[str]]:
    """Total epochs of ``n`` trials under Ray's synchronous Hyperband, and the brackets."""
    s_max_1 = int(round(math.log(max_t) / math.log(eta))) + 1
    total, left, details = 0, n, []
    while left > 0:
        for s in range(s_max_1):
            r0 = int(max_t * eta ** (-s))
            if r0 == 0 or left == 0:
                continue
            n0 = int(math.ceil(s_max_1 / (s + 1) * eta ** s))
            live = placed = min(n0, left)
            left -= live
            work, r, target = live * r0, r0, n0
            for _ in range(s):
                target = int(math.ceil(target / eta))
                live = min(live, target)
                nxt = int(min(r * eta, max_t))
                work += live * (nxt - r)
                r = nxt
            details.append(f"hyperband bracket s={s}: {placed} trial(s) from {r0} epochs,"
                           f" {work} epochs")
            total += work
    return Budget(float(total), float(total), float(n * max_t)), details


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
    import torch

    from raytuner.data import load_dataset
    from raytuner.trial.loop import Trainer

    device = "cuda" if exp.resources.gpu > 0 and torch.cuda.is_available() else "cpu"
    torch.set_num_threads(max(1, int(exp.resources.cpu)))
    trainer = Trainer(exp, load_dataset(exp.data, exp.seed), device)
    return float(trainer.run_epoch()["epoch_time_s"])


def make_plan(exp: Experiment, *, cpus: float | None = None, gpus: float | None = None,
              epoch_seconds: float | None = None) -> Plan:
    """The plan of ``exp``; calibrates one epoch unless ``epoch_seconds`` is given."""
    space = parse_space(exp.search.space)
    trials = count_trials(exp, space)
    epoch_values = _epoch_values(exp, space)
    max_t = max(epoch_values)
    cfg = exp.search.scheduler
    details: list[str] = []
    if cfg.name == "asha":
        grace = min(cfg.grace_period, max_t)
        epochs = asha_epochs(trials, grace, max_t, cfg.reduction_factor, cfg.brackets,
                             min(epoch_values))
        for s in range(cfg.brackets):
            rungs = ", ".join(f"{m:g}" for m in asha_rungs(grace, max_t, cfg.reduction_factor, s))
            details.append(f"asha bracket s={s}: rungs at epochs {rungs}")
    elif cfg.name == "hyperband":
        epochs, details = hyperband_epochs(trials, max_t, cfg.reduction_factor)
    else:
        mean = sum(epoch_values) / len(epoch_values)
        epochs = Budget(trials * min(epoch_values), trials * mean, trials * max_t)
    if epoch_seconds is None:
        epoch_seconds, source = calibrate_epoch(exp), "calibrated: one epoch on this machine"
    else:
        source = "given"
    cpus = float(os.cpu_count() or 1) if cpus is None else cpus
    if gpus is None:
        import torch

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
    from raytuner.text import render_table

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
