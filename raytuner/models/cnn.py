"""A configurable convolutional network for small images."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from raytuner.models import MODELS
from raytuner.models.layers import Activation, activation


class CNNSettings(BaseModel):
    """Keyword settings of the ``cnn`` model (every one searchable as ``model.<key>``)."""

    model_config = ConfigDict(extra="forbid")

    depth: int = Field(2, ge=1, le=6, description="number of convolution blocks")
    channels: int = Field(32, ge=1, le=1024, description="channels of the first block")
    channel_growth: float = Field(2.0, ge=1.0, le=4.0,
                                  description="channel multiplier from one block to the next")
    kernel_size: int = Field(3, ge=1, le=7, description="odd convolution kernel size")
    pool: Literal["max", "avg", "none"] = Field("max", description="2x2 pooling after a block")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout before the classifier")
    batch_norm: bool = Field(True, description="BatchNorm2d after each convolution")
    hidden: int = Field(128, ge=0, le=8192, description="hidden classifier units; 0 = none")
    activation: Activation = "relu"

    @field_validator("kernel_size")
    @classmethod
    def _odd_kernel(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"kernel_size must be odd (got {value})")
        return value


class CNN(nn.Module):
    """Conv blocks (conv, [BN], activation, [pool]) then a small classifier."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, settings: CNNSettings):
        super().__init__()
        in_channels, height, width = input_shape
        blocks: list[nn.Module] = []
        channels = float(settings.channels)
        for _ in range(settings.depth):
            out_channels = max(1, round(channels))
            blocks.append(nn.Conv2d(in_channels, out_channels, settings.kernel_size,
                                    padding=settings.kernel_size // 2,
                                    bias=not settings.batch_norm))
            if settings.batch_norm:
                blocks.append(nn.BatchNorm2d(out_channels))
            blocks.append(activation(settings.activation))
            # Pool only while the feature map can still be halved, so deep nets fit 8x8 inputs.
            if settings.pool != "none" and min(height, width) >= 2:
                blocks.append(nn.MaxPool2d(2) if settings.pool == "max" else nn.AvgPool2d(2))
                height, width = height // 2, width // 2
            in_channels = out_channels
            channels *= settings.channel_growth
        self.features = nn.Sequential(*blocks)
        flat = in_channels * height * width
        head: list[nn.Module] = [nn.Flatten()]
        if settings.dropout > 0:
            head.append(nn.Dropout(settings.dropout))
        if settings.hidden > 0:
            head += [nn.Linear(flat, settings.hidden), activation(settings.activation)]
            if settings.dropout > 0:
                head.append(nn.Dropout(settings.dropout))
            flat = settings.hidden
        head.append(nn.Linear(flat, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@MODELS.register("cnn", settings=CNNSettings)
def build_cnn(input_shape: tuple[int, ...], num_classes: int, **settings) -> nn.Module:
    """A CNN for ``input_shape = (C, H, W)`` images; settings as in :class:`CNNSettings`."""
    return CNN(input_shape, num_classes, CNNSettings(**settings))
