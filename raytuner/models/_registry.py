"""The registry of models: ``model.name`` -> ``factory(input_shape, num_classes, **settings)``,
each with the pydantic settings class its keyword settings are checked with."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from raytuner.registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")
