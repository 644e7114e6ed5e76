"""Optimizers by name, built from the ``train`` section."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def build_optimizer(train, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``train.optimizer`` with the section's lr, momentum and weight decay."""
    name = train.optimizer
    if name == "sgd":
        return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum,
                               nesterov=train.nesterov and train.momentum > 0,
                               weight_decay=train.weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=train.lr, betas=(train.beta1, train.beta2),
                                weight_decay=train.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=train.lr, betas=(train.beta1, train.beta2),
                                 weight_decay=train.weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=train.lr, momentum=train.momentum,
                                   weight_decay=train.weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")  # the schema makes this unreachable
