"""Settings a trial can change mid-training, applied in place to a restored trainer.

Population-based training (``search.scheduler.name: pbt`` or ``pb2``) restarts a weak trial
from a strong trial's checkpoint with perturbed settings. The trainer is built exactly as the
checkpoint's trial was (same model, same optimizer), the state is loaded, and then the new
settings are written into what holds them: the optimizer's param groups (lr, momentum, betas,
weight decay), the dropout modules' ``p``, and the training recipe the loop reads at every
batch (label smoothing, augmentation, gradient clipping, batch size). Nothing that carries
state (weights, optimizer moments, RNG, the LR schedule's position) is rebuilt or reset.

Every other key changes the model's shape, the optimizer's kind or the data, so a population
scheduler refuses it at validation (see :data:`MUTABLE_KEYS`). No Ray here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the search checks import this module: no config import back at runtime
    from torch import nn

    from raytuner.config.schema import Experiment

#: the searched keys a running trial can take a new value of, and what holds each
MUTABLE_KEYS: dict[str, str] = {
    "train.lr": "the optimizer's param groups (and the LR schedule's base)",
    "train.momentum": "the optimizer's param groups (sgd, rmsprop)",
    "train.beta1": "the optimizer's param groups (adam, adamw betas)",
    "train.beta2": "the optimizer's param groups (adam, adamw betas)",
    "train.weight_decay": "the optimizer's param groups",
    "model.dropout": "the p of every dropout module",
    "train.label_smoothing": "the training loss, read at every batch",
    "train.augment.crop_padding": "the augmentation, read at every batch",
    "train.augment.hflip": "the augmentation, read at every batch",
    "train.grad_clip_norm": "the gradient clipping, read at every batch",
    "train.batch_size": "the batching of the next epoch (and the LR schedule's steps)",
}


def set_dropout(model: nn.Module, p: float) -> int:
    """Set ``p`` of every dropout module of ``model``; returns how many there are."""
    from torch.nn.modules.dropout import _DropoutNd  # deferred: validation imports no torch

    modules = [m for m in model.modules() if isinstance(m, _DropoutNd)]
    for module in modules:
        module.p = p
    return len(modules)


def _set_optimizer(optimizer: Any, train: Any) -> None:
    for group in optimizer.param_groups:
        group["weight_decay"] = train.weight_decay
        if "momentum" in group:
            group["momentum"] = train.momentum
        if "betas" in group:
            group["betas"] = (train.beta1, train.beta2)


def _set_lr(trainer: Any, lr: float) -> None:
    """A new ``train.lr``: the schedule's base (closed-form schedules set the lr of every
    epoch, and batch, from it); a plateau schedule past warmup owns the current lr, which is
    scaled so the reductions it made so far are kept."""
    schedule = trainer.schedule
    old = schedule.base_lr
    schedule.base_lr = lr
    if schedule.plateau is not None and trainer.epoch > schedule.warmup:
        for group in trainer.optimizer.param_groups:
            group["lr"] *= lr / old


def apply_settings(trainer: Any, exp: Experiment) -> None:
    """Give a restored trainer (a :class:`raytuner.trial.loop.Trainer`, or each fold of a
    cross-validated one) the settings of ``exp`` in place; only :data:`MUTABLE_KEYS` differ
    between ``exp`` and the trainer's experiment."""
    for fold in getattr(trainer, "folds", None) or [trainer]:
        _apply_one(fold, exp)
    trainer.exp = exp


def _apply_one(trainer: Any, exp: Experiment) -> None:
    from raytuner.trial.augment import requested  # light; deferred to keep this module a leaf
    from raytuner.trial.schedules import steps_per_epoch

    old, new = trainer.exp.train, exp.train
    _set_optimizer(trainer.optimizer, new)
    if "dropout" in exp.model_settings:
        set_dropout(trainer.model, exp.model_settings["dropout"])
    trainer.augment = new.augment if requested(new.augment) else None
    trainer.schedule.steps_per_epoch = steps_per_epoch(len(trainer.data.train_y),
                                                       new.batch_size)
    trainer.exp = exp  # label smoothing, clipping and batch size are read from it per batch
    if new.lr != old.lr:
        _set_lr(trainer, new.lr)


def changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """``{key: [old, new]}`` of the searched values that differ between two trials' params."""
    return {key: [old.get(key), value] for key, value in new.items()
            if old.get(key) != value}
