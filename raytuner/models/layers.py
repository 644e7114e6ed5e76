"""Small building blocks shared by the built-in models: activations by name."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from raytuner.registry import Registry

#: ``activation`` setting of the built-in models -> a module factory
ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry("activation")
ACTIVATIONS.register("relu")(nn.ReLU)
ACTIVATIONS.register("gelu")(nn.GELU)
ACTIVATIONS.register("silu")(nn.SiLU)

#: the settings field of an activation: a registered name
Activation = ACTIVATIONS.field()


def activation(name: str) -> nn.Module:
    """A fresh activation module by name."""
    return ACTIVATIONS.create(name)
