"""Random stand-in data of a built-in set's shape and classes (``data.synthetic``).

Smoke mode uses it when the real files are absent, so every shipped experiment can run end to
end without its data. Each class has its own fixed random pattern plus noise, so a model can
learn it and the metrics move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raytuner.data._registry import DATASET_INFO
from raytuner.data.bundle import DataBundle
from raytuner.errors import ConfigError

if TYPE_CHECKING:  # the config validates with this module: no import back at runtime
    import torch

    from raytuner.config.schema import DataConfig

#: examples generated when ``data.subset`` / ``data.val_subset`` do not say
DEFAULT_TRAIN, DEFAULT_VAL = 1024, 256


def synthetic_shape(data_config: DataConfig) -> tuple[tuple[int, int, int], int]:
    """``((C, H, W), num_classes)`` of the named built-in set."""
    info = DATASET_INFO.get(data_config.name)
    if info is None:
        raise ConfigError(f"synthetic data needs a built-in set's shape; {data_config.name!r} "
                          "is a user data set", path="data.synthetic")
    return info.shape(data_config)


def synthetic_bundle(data_config: DataConfig, seed: int) -> DataBundle:
    """Standardized random images: class pattern + noise, balanced classes."""
    import torch

    shape, num_classes = synthetic_shape(data_config)
    generator = torch.Generator().manual_seed(seed)
    patterns = torch.randn((num_classes, *shape), generator=generator)

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        labels = torch.arange(n) % num_classes
        labels = labels[torch.randperm(n, generator=generator)]
        noise = torch.randn((n, *shape), generator=generator)
        return patterns[labels] * 0.5 + noise, labels

    train_x, train_y = make(data_config.subset or DEFAULT_TRAIN)
    val_x, val_y = make(data_config.val_subset or DEFAULT_VAL)
    return DataBundle(f"{data_config.name} (synthetic)", train_x, train_y, val_x, val_y,
                      num_classes)
