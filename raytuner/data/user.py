"""A user's data set by import path: ``data.name: "pkg.module:factory"``.

``factory(data_config, seed)`` returns either a ready :class:`DataBundle` or a pair
``(train_set, val_set)`` of torch Datasets whose items are ``(input, label)``. A pair is read
once into in-memory tensors here (the trainer indexes tensors); inputs may be tensors, numpy
arrays or PIL images. The user's own transforms decide normalization.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from raytuner.data.bundle import DataBundle
from raytuner.errors import ConfigError

if TYPE_CHECKING:  # torch loads when data is loaded, not when an experiment is validated
    import torch


def _is_dataset(obj: Any) -> bool:
    return hasattr(obj, "__getitem__") and hasattr(obj, "__len__")


def _as_tensor(item: Any, name: str, index: int) -> torch.Tensor:
    import torch

    if isinstance(item, torch.Tensor):
        tensor = item
    elif isinstance(item, np.ndarray):
        tensor = torch.from_numpy(item)
    elif hasattr(item, "getbands"):  # a PIL image: channels first, 0..1, as ToTensor does
        # deferred: torchvision is heavy; only PIL inputs need it
        from torchvision.transforms.functional import pil_to_tensor

        tensor = pil_to_tensor(item).float() / 255.0
    else:
        raise ConfigError(f"user data set {name!r}: example {index} has an input of type "
                          f"{type(item).__name__}; expected a tensor, numpy array or PIL image",
                          path="data.name")
    tensor = tensor.float()
    # (H, W) images get a channel axis so the convolutional models accept them.
    return tensor.unsqueeze(0) if tensor.dim() == 2 else tensor


def dataset_to_tensors(dataset: Any, name: str, which: str
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``(input, label)`` items of ``dataset`` stacked into ``(x, y)`` tensors."""
    import torch

    inputs, labels = [], []
    for index in range(len(dataset)):
        item = dataset[index]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ConfigError(f"user data set {name!r}: {which} item {index} is "
                              f"{type(item).__name__}; expected an (input, label) pair",
                              path="data.name")
        tensor = _as_tensor(item[0], name, index)
        if inputs and tensor.shape != inputs[0].shape:
            raise ConfigError(f"user data set {name!r}: {which} inputs differ in shape "
                              f"({tuple(inputs[0].shape)} and {tuple(tensor.shape)} at item "
                              f"{index}); resize them in the data set", path="data.name")
        inputs.append(tensor)
        labels.append(int(item[1]))
    if not inputs:
        raise ConfigError(f"user data set {name!r}: the {which} set is empty", path="data.name")
    return torch.stack(inputs), torch.tensor(labels, dtype=torch.int64)


def as_bundle(result: Any, name: str) -> DataBundle:
    """A loader's return value as a :class:`DataBundle` (bundles pass through unchanged)."""
    if isinstance(result, DataBundle):
        return result
    if (isinstance(result, (tuple, list)) and len(result) == 2
            and all(_is_dataset(part) for part in result)):
        train_set, val_set = result
        train_x, train_y = dataset_to_tensors(train_set, name, "training")
        val_x, val_y = dataset_to_tensors(val_set, name, "validation")
        if train_x.shape[1:] != val_x.shape[1:]:
            raise ConfigError(f"user data set {name!r}: training inputs have shape "
                              f"{tuple(train_x.shape[1:])}, validation inputs "
                              f"{tuple(val_x.shape[1:])}", path="data.name")
        if min(int(train_y.min()), int(val_y.min())) < 0:
            raise ConfigError(f"user data set {name!r}: labels must be class indices >= 0",
                              path="data.name")
        classes = getattr(train_set, "classes", None)
        num_classes = max(int(train_y.max()), int(val_y.max())) + 1
        if classes is not None:
            num_classes = max(num_classes, len(classes))
        return DataBundle(name, train_x, train_y, val_x, val_y, num_classes)
    raise ConfigError(f"data set factory {name!r} returned {type(result).__name__}; expected a "
                      "raytuner.data.DataBundle or a (train_set, val_set) pair of torch "
                      "Datasets", path="data.name")
