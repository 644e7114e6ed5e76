"""Deterministic, stratified train/validation splits and normalization."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch loads when data is loaded, not when an experiment is validated
    import torch


def stratified_split(
    labels: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified split; the same ``seed`` always gives the same split."""
    # deferred: only loading a data set splits it (a trial gets the driver's loaded data)
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    train_idx, val_idx = train_test_split(
        indices, test_size=val_fraction, stratify=labels, random_state=seed
    )
    return np.sort(train_idx), np.sort(val_idx)


def standardize(train_x: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Scale every tensor with the per-channel mean and std of the training tensor only
    (statistics from validation data would leak into training)."""
    dims = [0] + list(range(2, train_x.dim()))
    mean = train_x.mean(dim=dims, keepdim=True)
    std = train_x.std(dim=dims, keepdim=True).clamp_min(1e-6)
    return [(t - mean) / std for t in (train_x, *others)]
