"""The registry of models: ``model.name`` -> ``factory(input_shape, num_classes, **settings)``,
each with the pydantic settings class its keyword settings are checked with."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from raytuner.registry import Registry

if TYPE_CHECKING:  # the factories import torch when they build; the names need none of it
    from torch import nn

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
