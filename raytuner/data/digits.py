"""scikit-learn's embedded 8x8 handwritten digits (1,797 images, 10 classes): the default set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from raytuner.data._registry import DATASET_INFO, DATASETS, DatasetInfo
from raytuner.data.bundle import DataBundle
from raytuner.data.split import standardize, stratified_split

if TYPE_CHECKING:  # the config validates with this module: no import back at runtime

    from raytuner.config.schema import DataConfig


@DATASETS.register("digits")
def load_digits_bundle(data_config: DataConfig, seed: int) -> DataBundle:
    """Digits as ``(N, 1, 8, 8)`` floats, pixel values 0..16 scaled to 0..1 then standardized,
    with a stratified validation split of ``data_config.val_fraction`` fixed by ``seed``."""
    import torch

    # deferred: trials get the driver's loaded data, so their workers never import scikit-learn
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target, dtype=torch.int64)
    train_idx, val_idx = stratified_split(digits.target, data_config.val_fraction, seed)
    train_x, val_x = standardize(images[train_idx], images[val_idx])
    return DataBundle("digits", train_x, labels[train_idx], val_x, labels[val_idx], 10,
                      augmentations=load_digits_bundle.augmentations)


DATASET_INFO["digits"] = DatasetInfo(keys=frozenset(), shape=lambda cfg: ((1, 8, 8), 10),
                                     present=lambda cfg: True)

# Declared for validation before loading (raytuner.data_traits). No augmentation: a flipped
# 8x8 digit is another digit or none, and a shifted one loses a sixth of its pixels.
load_digits_bundle.num_classes = 10
load_digits_bundle.augmentations = ()
