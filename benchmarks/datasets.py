"""Benchmark datasets, used through raytuner's import-path hook
(``data.name: "benchmarks.datasets:digits_subset"``, called as ``factory(data_config, seed)``).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from raytuner.data import DataBundle
from raytuner.data.split import standardize

# The subset is fixed (not drawn from the experiment seed) so that every method and every
# seed of B1 tunes exactly the same task; the seed varies the search and weight init only.
SUBSET_SEED = 0
TRAIN_SIZE = 300
VAL_SIZE = 500


def digits_subset(data_config, seed: int) -> DataBundle:
    """A harder digits task: the CNN trains on a stratified subset of 300 images and is
    validated on 500 other images (stratified, disjoint), so the search matters.

    ``data_config.val_fraction`` is ignored: the split sizes are part of the benchmark.
    """
    digits = load_digits()
    labels = digits.target
    rest, train_idx = train_test_split(np.arange(len(labels)), test_size=TRAIN_SIZE,
                                       stratify=labels, random_state=SUBSET_SEED)
    _, val_idx = train_test_split(rest, test_size=VAL_SIZE, stratify=labels[rest],
                                  random_state=SUBSET_SEED)
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    targets = torch.tensor(labels, dtype=torch.int64)
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    train_x, val_x = standardize(images[train_idx], images[val_idx])
    return DataBundle("digits_subset", train_x, targets[train_idx], val_x, targets[val_idx], 10)


def trivial(data_config, seed: int) -> DataBundle:
    """Sixteen 1x2x2 'images' of two classes: a trial on it costs almost nothing but
    raytuner's own machinery (config, model, checkpoint, report)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 1, 2, 2, generator=generator)
    y = (x.sum(dim=(1, 2, 3)) > 0).long()
    return DataBundle("trivial", x[:12], y[:12], x[12:], y[12:], 2)
