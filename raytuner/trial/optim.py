"""Optimizers by name (``train.optimizer``), built from the ``train`` section.

Each is registered in :data:`OPTIMIZERS` as ``factory(train, params)``; the schema takes its
allowed names from there, so adding an optimizer is one registered function. torch is imported
when an optimizer is built, not with the names: validating an experiment never loads it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from raytuner.registry import Registry

if TYPE_CHECKING:  # the schema imports this module for the names: no import back at runtime
    import torch

    from raytuner.config.schema import TrainConfig

Params = Iterable["torch.nn.Parameter"]
OPTIMIZERS: Registry[Callable[[TrainConfig, Params], torch.optim.Optimizer]] = \
    Registry("optimizer")


@OPTIMIZERS.register("sgd")
def sgd(train: TrainConfig, params: Params) -> torch.optim.Optimizer:
    """SGD with momentum (Nesterov when ``train.nesterov`` and the momentum is positive)."""
    import torch

    return torch.optim.SGD(params, lr=train.lr, momentum=train.momentum,
                           nesterov=train.nesterov and train.momentum > 0,
                           weight_decay=train.weight_decay)


@OPTIMIZERS.register("adam")
def adam(train: TrainConfig, params: Params) -> torch.optim.Optimizer:
    """Adam with ``beta1``/``beta2`` and L2 weight decay."""
    import torch

    return torch.optim.Adam(params, lr=train.lr, betas=(train.beta1, train.beta2),
                            weight_decay=train.weight_decay)


@OPTIMIZERS.register("adamw")
def adamw(train: TrainConfig, params: Params) -> torch.optim.Optimizer:
    """AdamW: Adam with decoupled weight decay."""
    import torch

    return torch.optim.AdamW(params, lr=train.lr, betas=(train.beta1, train.beta2),
                             weight_decay=train.weight_decay)


@OPTIMIZERS.register("rmsprop")
def rmsprop(train: TrainConfig, params: Params) -> torch.optim.Optimizer:
    """RMSprop with momentum."""
    import torch

    return torch.optim.RMSprop(params, lr=train.lr, momentum=train.momentum,
                               weight_decay=train.weight_decay)


def build_optimizer(train: TrainConfig, params: Params) -> torch.optim.Optimizer:
    """The optimizer ``train.optimizer`` with the section's lr, momentum and weight decay."""
    return OPTIMIZERS.create(train.optimizer, train, params)
