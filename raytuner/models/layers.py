"""Small building blocks shared by the built-in models."""

from __future__ import annotations

from typing import Literal

from torch import nn

Activation = Literal["relu", "gelu", "silu"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


def activation(name: str) -> nn.Module:
    """A fresh activation module by name."""
    return _ACTIVATIONS[name]()
