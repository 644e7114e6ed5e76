"""A configurable convolutional network for small images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)

from raytuner.models._registry import MODELS
from raytuner.models.layers import Activation

if TYPE_CHECKING:
    from torch import nn

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


@MODELS.register("cnn", settings=CNNSettings)
def build_cnn(input_shape: tuple[int, ...], num_classes: int, **settings) -> nn.Module:
    """A CNN for ``input_shape = (C, H, W)`` images; settings as in :class:`CNNSettings`."""
    from raytuner.models._cnn_net import CNN  # deferred: validation reads the settings alone

    return CNN(input_shape, num_classes, CNNSettings(**settings))
