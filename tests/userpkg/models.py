"""Model factories as a user writes them: factory(input_shape, num_classes, **settings)."""

from __future__ import annotations

import math

from torch import nn


def tiny_mlp(input_shape, num_classes, hidden: int = 16, dropout: float = 0.0) -> nn.Module:
    """One hidden layer; ``hidden`` and ``dropout`` are searchable as model.hidden/dropout."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), hidden), nn.ReLU(),
                         nn.Dropout(dropout), nn.Linear(hidden, num_classes))


def needs_width(input_shape, num_classes, *, width: int) -> nn.Module:
    """A factory with a required keyword setting."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width),
                         nn.Linear(width, num_classes))


def anything(input_shape, num_classes, **settings) -> nn.Module:
    """Takes any setting: checking them is this factory's job."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))


def not_a_module(input_shape, num_classes):
    return "a string"


def one_argument(input_shape):
    return nn.Identity()
