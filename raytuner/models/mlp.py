"""A multilayer perceptron over flattened inputs."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from raytuner.models._registry import MODELS
from raytuner.models.layers import Activation
from raytuner.models.layers import activation as make_activation

if TYPE_CHECKING:
    from torch import nn


class MLPSettings(BaseModel):
    """Keyword settings of the ``mlp`` model (every one searchable as ``model.<key>``)."""

    model_config = ConfigDict(extra="forbid")

    depth: int = Field(2, ge=1, le=8, description="number of hidden layers")
    width: int = Field(128, ge=1, le=8192, description="units per hidden layer")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout after each hidden layer")
    batch_norm: bool = Field(False, description="BatchNorm1d after each hidden linear layer")
    activation: Activation = "relu"


@MODELS.register("mlp", settings=MLPSettings)
def build_mlp(input_shape: tuple[int, ...], num_classes: int, *, depth: int = 2,
              width: int = 128, dropout: float = 0.0, batch_norm: bool = False,
              activation: str = "relu") -> nn.Module:
    """An MLP: ``depth`` x (Linear, [BatchNorm], activation, [Dropout]) then a linear head."""
    from torch import nn  # deferred: validation reads the settings class alone

    layers: list[nn.Module] = [nn.Flatten()]
    features = math.prod(input_shape)
    for _ in range(depth):
        layers.append(nn.Linear(features, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(make_activation(activation))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        features = width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)

