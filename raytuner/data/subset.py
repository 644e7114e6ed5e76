"""Stratified subsets fixed by the seed (``data.subset``, ``data.val_subset``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from raytuner.data.bundle import DataBundle

if TYPE_CHECKING:  # torch loads when data is loaded, not when an experiment is validated
    pass


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` examples whose class shares match ``labels`` as closely as
    whole numbers allow; the same seed always picks the same examples.

    Each class gets ``floor(share * n)``, the remaining slots go to the classes with the
    largest fractional parts. All indices when ``n`` is at least ``len(labels)``.
    """
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n / len(labels)
    take = np.floor(quota).astype(int)
    by_remainder = np.argsort(-(quota - take), kind="stable")
    take[by_remainder[: n - int(take.sum())]] += 1
    picks = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
             for c, k in zip(classes, take, strict=True) if k > 0]
    return np.sort(np.concatenate(picks))


def subset_bundle(bundle: DataBundle, n: int | None, val_n: int | None, seed: int
                  ) -> DataBundle:
    """``bundle`` cut to stratified subsets of ``n`` training and ``val_n`` validation
    examples (None: keep all). Sets already that small come back unchanged."""
    import torch

    train_idx = val_idx = None
    if n is not None and n < len(bundle.train_y):
        train_idx = torch.as_tensor(stratified_subset(bundle.train_y.numpy(), n, seed))
    if val_n is not None and val_n < len(bundle.val_y):
        val_idx = torch.as_tensor(stratified_subset(bundle.val_y.numpy(), val_n, seed))
    if train_idx is None and val_idx is None:
        return bundle
    train_x, train_y = ((bundle.train_x, bundle.train_y) if train_idx is None
                        else (bundle.train_x[train_idx], bundle.train_y[train_idx]))
    val_x, val_y = ((bundle.val_x, bundle.val_y) if val_idx is None
                    else (bundle.val_x[val_idx], bundle.val_y[val_idx]))
    return DataBundle(bundle.name, train_x, train_y, val_x, val_y, bundle.num_classes,
                      augmentations=bundle.augmentations)
