"""The network of the ``cnn`` model (:mod:`raytuner.models.cnn` holds its settings and its
registration, which validation reads without loading torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from raytuner.models.layers import activation

if TYPE_CHECKING:
    from raytuner.models.cnn import CNNSettings


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
