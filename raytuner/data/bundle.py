"""The in-memory train and validation tensors a data set loader returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads when data is loaded, not when an experiment is validated
    import torch


@dataclass
class DataBundle:
    """Train and validation tensors of one dataset, already normalized.

    ``x`` tensors are float32 ``(N, C, H, W)``; ``y`` tensors int64 class indices.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int
    #: label-preserving augmentations that make sense for this set ("crop", "hflip"); a set
    #: whose labels change under a flip (digits, text) leaves "hflip" out
    augmentations: tuple[str, ...] = ("crop", "hflip")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, ``(C, H, W)``."""
        return tuple(self.train_x.shape[1:])

    def __post_init__(self) -> None:
        if len(self.train_x) != len(self.train_y) or len(self.val_x) != len(self.val_y):
            raise ValueError("inputs and labels differ in length")
