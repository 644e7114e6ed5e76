"""Learning-rate schedules of ``train.lr_schedule``, with optional linear warmup.

Every schedule except ``plateau`` is a closed-form function of the position in training (the
epoch, or the batch for ``onecycle``), using the same formulas as torch's ``StepLR``,
``MultiStepLR``, ``ExponentialLR``, ``CosineAnnealingLR`` and ``OneCycleLR`` (the tests check them
value by value). A closed form composes cleanly with a warmup in front and cannot drift on
resume: the lr of an epoch depends only on where training is. ``plateau`` needs memory (the best
value so far), so it is torch's ``ReduceLROnPlateau``, whose state goes into the checkpoint.

Warmup ramps the lr linearly from ``warmup_start_factor * lr`` towards ``lr`` over
``warmup_epochs``; the schedule proper then starts at its own epoch 0 and spans the remaining
``train.epochs - warmup_epochs`` epochs (cosine's period, onecycle's cycle, default milestones).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from raytuner.registry import Registry

if TYPE_CHECKING:  # the schema imports this module for the names: no import back at runtime
    import torch

    from raytuner.config.schema import LRScheduleConfig

DEFAULT_GAMMA = {"step": 0.1, "multistep": 0.1, "plateau": 0.1, "exponential": 0.9}


@dataclass(frozen=True)
class Position:
    """Where training is, counted after warmup: the schedule proper starts at its own 0."""

    epoch: int  # 0-based epoch
    epochs: int  # the schedule's length in epochs (training epochs after warmup)
    step: int  # 0-based optimizer step
    steps: int  # the schedule's length in optimizer steps


Schedule = Callable[["LRScheduleConfig", float, Position], float]
#: ``train.lr_schedule.name`` -> ``schedule(cfg, base_lr, position) -> lr``
LR_SCHEDULES: Registry[Schedule] = Registry("learning-rate schedule")
#: schedules whose lr changes within an epoch (the others are set once per epoch)
PER_BATCH = {"onecycle"}


def _gamma(cfg: LRScheduleConfig) -> float:
    return cfg.gamma if cfg.gamma is not None else DEFAULT_GAMMA[cfg.name]


def warmup_factor(epoch: int, warmup_epochs: int, start_factor: float) -> float:
    """lr multiplier of warmup ``epoch`` (0-based), as torch's ``LinearLR``."""
    return start_factor + (1.0 - start_factor) * min(epoch, warmup_epochs) / warmup_epochs


@LR_SCHEDULES.register("constant")
def constant(cfg: LRScheduleConfig, base_lr: float, at: Position) -> float:
    """``train.lr`` throughout."""
    return base_lr


@LR_SCHEDULES.register("step")
def step(cfg: LRScheduleConfig, base_lr: float, at: Position) -> float:
    """Decay by ``gamma`` every ``step_size`` epochs (torch's ``StepLR``)."""
    return base_lr * _gamma(cfg) ** (at.epoch // cfg.step_size)


@LR_SCHEDULES.register("multistep")
def multistep(cfg: LRScheduleConfig, base_lr: float, at: Position) -> float:
    """Decay by ``gamma`` at each milestone (torch's ``MultiStepLR``)."""
    return base_lr * _gamma(cfg) ** bisect.bisect_right(default_milestones(cfg, at.epochs),
                                                         at.epoch)


@LR_SCHEDULES.register("exponential")
def exponential(cfg: LRScheduleConfig, base_lr: float, at: Position) -> float:
    """Decay by ``gamma`` every epoch (torch's ``ExponentialLR``)."""
    return base_lr * _gamma(cfg) ** at.epoch


@LR_SCHEDULES.register("cosine")
def cosine(cfg: LRScheduleConfig, base_lr: float, at: Position) -> float:
    """Cosine annealing to ``min_lr`` (torch's ``CosineAnnealingLR``, one half period)."""
    return cosine_lr(base_lr, cfg.min_lr, at.epoch, at.epochs)


@LR_SCHEDULES.register("onecycle")
def onecycle(cfg: LRScheduleConfig, base_lr: float, at: Position) -> float:
    """One cycle per batch up to ``train.lr`` and down (torch's ``OneCycleLR``)."""
    return onecycle_lr(cfg, base_lr, at.step, at.steps)


@LR_SCHEDULES.register("plateau")
def plateau(cfg: LRScheduleConfig, base_lr: float, at: Position) -> float:
    """``train.lr`` until the monitored metric stops improving; the reductions need memory of
    the metric, so torch's ``ReduceLROnPlateau`` (in :class:`LRSchedule`) owns them."""
    return base_lr


def cosine_lr(base_lr: float, min_lr: float, epoch: int, epochs: int) -> float:
    """Cosine annealing from ``base_lr`` at epoch 0 to ``min_lr`` at ``epochs``."""
    t = min(epoch, epochs) / max(epochs, 1)
    return min_lr + (base_lr - min_lr) * (1.0 + math.cos(math.pi * t)) / 2.0


def default_milestones(cfg: LRScheduleConfig, epochs: int) -> list[int]:
    """``milestones`` or, when not given, 50% and 75% of the schedule's epochs."""
    if cfg.milestones is not None:
        return list(cfg.milestones)
    return sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})


def onecycle_lr(cfg: LRScheduleConfig, max_lr: float, step: int, total_steps: int) -> float:
    """lr of batch ``step`` (0-based) of a one-cycle policy, as torch's ``OneCycleLR`` with
    cosine annealing (momentum is not cycled)."""
    initial = max_lr / cfg.div_factor
    final = initial / cfg.final_div_factor
    step = min(step, total_steps - 1)
    rise_end = float(cfg.pct_start * total_steps) - 1
    phases = [(rise_end, initial, max_lr), (total_steps - 1, max_lr, final)]
    start_step = 0.0
    for i, (end_step, start, end) in enumerate(phases):
        if step <= end_step or i == len(phases) - 1:
            pct = (step - start_step) / (end_step - start_step) if end_step > start_step else 1.0
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        start_step = end_step
    raise AssertionError("unreachable")


class LRSchedule:
    """Sets the optimizer's lr before every epoch and batch, from ``train.lr_schedule``.

    The trainer calls :meth:`begin_epoch` before an epoch, :meth:`after_batch` after each
    optimizer step and :meth:`end_epoch` with the epoch's metrics.
    """

    def __init__(self, cfg: LRScheduleConfig, optimizer: torch.optim.Optimizer, *,
                 base_lr: float, epochs: int, steps_per_epoch: int, plateau_mode: str = "min"):
        self.cfg = cfg
        self.optimizer = optimizer
        self.base_lr = base_lr
        self.warmup = cfg.warmup_epochs
        self.main_epochs = max(1, epochs - self.warmup)
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.step = 0  # optimizer steps taken (onecycle's position)
        self.epoch = 0  # current epoch, 0-based
        self.schedule = LR_SCHEDULES.get(cfg.name, path="train.lr_schedule.name").factory
        self.plateau = None
        if cfg.name == "plateau":
            # deferred: the schema imports this module for the names, and validating an
            # experiment must not load torch
            from torch.optim.lr_scheduler import ReduceLROnPlateau

            self.plateau = ReduceLROnPlateau(
                optimizer, mode=plateau_mode, factor=cfg.gamma or DEFAULT_GAMMA["plateau"],
                patience=cfg.patience, threshold=cfg.threshold, min_lr=cfg.min_lr)

    def lr_for(self, epoch: int, step: int | None = None) -> float:
        """The lr of ``epoch`` (and, for per-batch schedules, of batch ``step``) for every
        schedule but plateau, whose lr after warmup depends on the metrics seen."""
        if epoch < self.warmup:
            return self.base_lr * warmup_factor(epoch, self.warmup, self.cfg.warmup_start_factor)
        if step is None:
            step = epoch * self.steps_per_epoch
        at = Position(epoch - self.warmup, self.main_epochs,
                      step - self.warmup * self.steps_per_epoch,
                      self.main_epochs * self.steps_per_epoch)
        return self.schedule(self.cfg, self.base_lr, at)

    def _set(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def begin_epoch(self, epoch: int) -> None:
        """Set the lr of ``epoch`` (0-based) before it runs."""
        self.epoch = epoch
        self.step = epoch * self.steps_per_epoch
        if self.plateau is not None and epoch > self.warmup:
            return  # after warmup, ReduceLROnPlateau owns the lr
        self._set(self.lr_for(epoch, self.step))

    def after_batch(self) -> None:
        """Advance one optimizer step; only :data:`PER_BATCH` schedules change the lr within
        an epoch."""
        self.step += 1
        if self.cfg.name in PER_BATCH and self.epoch >= self.warmup:
            self._set(self.lr_for(self.epoch, self.step))

    def end_epoch(self, value: float | None) -> None:
        """Feed plateau the monitored metric of the epoch that just ended."""
        if self.plateau is not None and self.epoch >= self.warmup and value is not None:
            self.plateau.step(value)

    def state_dict(self) -> dict[str, Any]:
        """Position and plateau memory (the rest is a function of the position)."""
        state: dict[str, Any] = {"step": self.step, "epoch": self.epoch}
        if self.plateau is not None:
            state["plateau"] = self.plateau.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (the optimizer's own state holds the current lr)."""
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        if self.plateau is not None and "plateau" in state:
            self.plateau.load_state_dict(state["plateau"])


def batch_bounds(num_examples: int, batch_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each training batch. A last batch of one example is folded into the
    one before: batch norm cannot normalize a single example in training mode."""
    bounds = [(s, min(s + batch_size, num_examples)) for s in range(0, num_examples, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2] = (bounds[-2][0], num_examples)
        bounds.pop()
    return bounds


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch (one per batch of :func:`batch_bounds`)."""
    return max(1, len(batch_bounds(num_examples, batch_size)))
