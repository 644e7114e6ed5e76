"""Small building blocks shared by the built-in models: activations by name.

torch is imported when a module is built, not with the names: validating an experiment (which
reads the names and the settings classes) never loads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from raytuner.registry import Registry

if TYPE_CHECKING:
    from torch import nn

#: ``activation`` setting of the built-in models -> a module factory
ACTIVATIONS: Registry[Callable[[], nn.Module]] = Registry("activation")


@ACTIVATIONS.register("relu")
def relu() -> nn.Module:
    """``nn.ReLU``."""
    from torch import nn

    return nn.ReLU()


@ACTIVATIONS.register("gelu")
def gelu() -> nn.Module:
    """``nn.GELU``."""
    from torch import nn

    return nn.GELU()


@ACTIVATIONS.register("silu")
def silu() -> nn.Module:
    """``nn.SiLU``."""
    from torch import nn

    return nn.SiLU()


#: the settings field of an activation: a registered name
Activation = ACTIVATIONS.field()


def activation(name: str) -> nn.Module:
    """A fresh activation module by name."""
    return ACTIVATIONS.create(name)
