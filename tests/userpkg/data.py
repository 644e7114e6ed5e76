"""Data set factories as a user writes them: factory(data_config, seed)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from raytuner.data import DataBundle


class DigitsArrays(torch.utils.data.Dataset):
    """scikit-learn digits as (8x8 numpy array, label) items: no channel axis, no tensors."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return (self.images[index] / 16.0).astype(np.float32), int(self.labels[index])


def digits_pair(data_config, seed: int):
    """(train_set, val_set) torch Datasets: the first 1,400 digits train, the rest validate."""
    digits = load_digits()
    return (DigitsArrays(digits.images[:1400], digits.target[:1400]),
            DigitsArrays(digits.images[1400:], digits.target[1400:]))


def tiny_bundle(data_config, seed: int) -> DataBundle:
    """A ready DataBundle (the original contract)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 1, 4, 4, generator=generator)
    y = torch.arange(40) % 2
    return DataBundle("tiny", x[:30], y[:30], x[30:], y[30:], 2)


def wrong_type(data_config, seed: int):
    return 42
