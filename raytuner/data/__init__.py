"""Datasets: name -> loader returning in-memory train/validation tensors.

A loader takes the validated ``data`` section and the experiment seed and returns a
:class:`DataBundle`. Bundles are loaded once on the driver and shared with every trial through
Ray's object store (``tune.with_parameters``), so trials never re-read the files.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from raytuner.registry import Registry

DATASETS: Registry = Registry("dataset")


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


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    return DATASETS.names()


def load_dataset(data_config, seed: int) -> DataBundle:
    """Load the dataset named by ``data_config.name`` with the split fixed by ``seed``."""
    entry = DATASETS.get(data_config.name, path="data.name")
    return entry.factory(data_config, seed)


from raytuner.data import digits  # noqa: E402,F401  (registers the built-in sets)
