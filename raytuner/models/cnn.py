"""A configurable convolutional network for small images."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)
from torch import nn

from raytuner.models._registry import MODELS
from raytuner.models.layers import Activation, activation

MAX_DEPTH = 6


class CNNSettings(BaseModel):
    """Keyword settings of the ``cnn`` model (every one searchable as ``model.<key>``)."""

    model_config = ConfigDict(extra="forbid")

    depth: int = Field(2, ge=1, le=MAX_DEPTH, description="number of convolution blocks")
    channels: int | list[int] = Field(
        32,
        description="channels of the first block, or a list: channels of each block (then "
                    "depth is the list's length)")
    channel_growth: float = Field(2.0, ge=1.0, le=4.0,
                                  description="channel multiplier from one block to the next")
    kernel_size: int = Field(3, ge=1, le=7, description="odd convolution kernel size")
    pool: Literal["max", "avg", "none"] = Field("max", description="2x2 pooling after a block")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout before the classifier")
    batch_norm: bool = Field(True, description="BatchNorm2d after each convolution")
    hidden: int = Field(128, ge=0, le=8192, description="hidden classifier units; 0 = none")
    activation: Activation = "relu"
    width_multiplier: float = Field(1.0, ge=0.125, le=8.0,
                                    description="scales every block's channels")

    @model_validator(mode="before")
    @classmethod
    def _depth_from_channel_list(cls, data: Any) -> Any:
        # A list of channels names every block, so it fixes the depth; a different depth
        # given next to it is a contradiction, not something to pick a winner for.
        channels = data.get("channels") if isinstance(data, dict) else None
        if isinstance(channels, list) and 0 < len(channels) <= MAX_DEPTH:
            stages = len(data["channels"])
            if "depth" in data and data["depth"] != stages:
                raise ValueError(f"depth {data['depth']!r} contradicts the {stages} blocks "
                                 f"listed in channels {data['channels']!r}; leave depth out "
                                 "when channels is a list")
            data = {**data, "depth": stages}
        return data

    @model_serializer(mode="wrap")
    def _leave_out_derived_depth(self, handler: Any) -> dict[str, Any]:
        # With a channel list the depth is derived; leaving it out of the resolved settings
        # lets a search switch between lists of different lengths.
        data = handler(self)
        if isinstance(self.channels, list):
            data.pop("depth", None)
        return data

    def block_channels(self) -> list[int]:
        """Output channels of each convolution block, width multiplier applied."""
        if isinstance(self.channels, list):
            base = [float(c) for c in self.channels]
        else:
            base = [self.channels * self.channel_growth ** i for i in range(self.depth)]
        return [max(1, round(c * self.width_multiplier)) for c in base]

    @field_validator("channels")
    @classmethod
    def _channels_in_range(cls, value: int | list[int]) -> int | list[int]:
        counts = value if isinstance(value, list) else [value]
        if not counts:
            raise ValueError("channels list is empty; give one channel count per block")
        if any(not 1 <= c <= 1024 for c in counts):
            raise ValueError("channels must be between 1 and 1024")
        if len(counts) > MAX_DEPTH:
            raise ValueError(f"a channels list names at most {MAX_DEPTH} blocks")
        return value

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
        for out_channels in settings.block_channels():
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
