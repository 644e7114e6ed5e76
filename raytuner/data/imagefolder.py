"""``imagefolder``: a folder with one sub-folder of images per class (torchvision's
``ImageFolder`` layout), e.g. ``root/cat/001.png``, ``root/dog/xyz.jpg``.

Validation comes from a stratified ``data.val_fraction`` split of ``data.root`` or from a
separate folder ``data.val_root`` with the same class sub-folders. Every image is resized to
``data.image_size`` squared and converted to ``data.channels`` (1 grayscale, 3 RGB), then
standardized with the per-channel mean and std of the training split.

All chosen images are decoded once, on the driver, into in-memory tensors; that takes
``N x C x size x size x 4`` bytes (50,000 RGB images at 64 px: 2.5 GB). For folders too large
for that, the place to switch is here: return a Dataset and stream it with a DataLoader whose
``num_workers`` equals the trial's ``resources.cpu`` (the training loop indexes tensors today).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from raytuner.data._registry import DATASET_INFO, DATASETS, DatasetInfo
from raytuner.data.bundle import DataBundle
from raytuner.data.split import standardize, stratified_split
from raytuner.data.subset import stratified_subset
from raytuner.errors import ConfigError

if TYPE_CHECKING:  # the config validates with this module: no import back at runtime
    import torch

    from raytuner.config.schema import DataConfig

DEFAULT_IMAGE_SIZE = 32
DEFAULT_CHANNELS = 3
#: classes of synthetic stand-in data when the folder is absent (its classes are unknown)
STANDIN_CLASSES = 2


def _folder(path: str | None, key: str) -> Path:
    folder = Path(path or "").expanduser().resolve()
    if not path or not folder.is_dir():
        raise ConfigError(f"image folder {str(folder) if path else path!r} does not exist; "
                          "expected a folder with one sub-folder of images per class",
                          path=f"data.{key}")
    return folder


def _class_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _open(folder: Path, key: str):
    # deferred: torchvision is heavy; it loads only when an image folder is read
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(folder))
    except (FileNotFoundError, OSError) as exc:
        raise ConfigError(f"{folder}: {exc}; expected one sub-folder of images (png, jpg, ...) "
                          "per class", path=f"data.{key}") from None


def _decode(samples: list[tuple[str, int]], size: int, channels: int, key: str) -> torch.Tensor:
    """uint8 ``(N, C, size, size)`` images."""
    import torch

    # deferred with torchvision: only reading an image folder needs them
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.functional import pil_to_tensor

    mode = "L" if channels == 1 else "RGB"
    out = torch.empty((len(samples), channels, size, size), dtype=torch.uint8)
    for i, (path, _) in enumerate(samples):
        try:
            with Image.open(path) as image:
                image = image.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
                out[i] = pil_to_tensor(image)
        except (UnidentifiedImageError, OSError) as exc:
            raise ConfigError(f"cannot read image {path}: {exc}", path=f"data.{key}") from None
    return out


def _pick(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    return np.arange(len(labels)) if n is None else stratified_subset(labels, n, seed)


@DATASETS.register("imagefolder")
def load_imagefolder(data_config: DataConfig, seed: int) -> DataBundle:
    """Class sub-folders of PNG/JPEG/... images as standardized float tensors."""
    import torch

    size = data_config.image_size or DEFAULT_IMAGE_SIZE
    channels = data_config.channels or DEFAULT_CHANNELS
    train_set = _open(_folder(data_config.root, "root"), "root")
    labels = np.asarray(train_set.targets)
    if data_config.val_root:
        val_set = _open(_folder(data_config.val_root, "val_root"), "val_root")
        if val_set.classes != train_set.classes:
            raise ConfigError(f"validation classes {val_set.classes} differ from the training "
                              f"classes {train_set.classes}", path="data.val_root")
        val_labels = np.asarray(val_set.targets)
        train_idx = _pick(labels, data_config.subset, seed)
        val_idx = _pick(val_labels, data_config.val_subset, seed)
        val_samples = [val_set.samples[i] for i in val_idx]
    else:
        try:
            train_idx, val_idx = stratified_split(labels, data_config.val_fraction, seed)
        except ValueError as exc:
            raise ConfigError(f"cannot split {data_config.root} for validation ({exc}); each "
                              "class needs at least 2 images, or give data.val_root",
                              path="data.val_fraction") from None
        if data_config.subset:
            train_idx = train_idx[stratified_subset(labels[train_idx], data_config.subset, seed)]
        if data_config.val_subset:
            val_idx = val_idx[stratified_subset(labels[val_idx], data_config.val_subset, seed)]
        val_samples = [train_set.samples[i] for i in val_idx]
    train_samples = [train_set.samples[i] for i in train_idx]
    train_x = _decode(train_samples, size, channels, "root").float() / 255.0
    val_x = _decode(val_samples, size, channels,
                    "val_root" if data_config.val_root else "root").float() / 255.0
    train_x, val_x = standardize(train_x, val_x)
    train_y = torch.tensor([c for _, c in train_samples], dtype=torch.int64)
    val_y = torch.tensor([c for _, c in val_samples], dtype=torch.int64)
    return DataBundle("imagefolder", train_x, train_y, val_x, val_y, len(train_set.classes))


def _shape(data_config: DataConfig) -> tuple[tuple[int, int, int], int]:
    size = data_config.image_size or DEFAULT_IMAGE_SIZE
    channels = data_config.channels or DEFAULT_CHANNELS
    root = Path(data_config.root or "").expanduser()
    classes = len(_class_folders(root)) if data_config.root and root.is_dir() else 0
    return (channels, size, size), max(classes, STANDIN_CLASSES)


def _present(data_config: DataConfig) -> bool:
    root = Path(data_config.root or "").expanduser()
    return bool(data_config.root) and root.is_dir() and bool(_class_folders(root))


def _ready(data_config: DataConfig) -> None:
    _folder(data_config.root, "root")
    if data_config.val_root:
        _folder(data_config.val_root, "val_root")


DATASET_INFO["imagefolder"] = DatasetInfo(
    keys=frozenset({"root", "val_root", "image_size", "channels"}), shape=_shape,
    present=_present, required={"root": "a folder with one sub-folder of images per class"},
    ready=_ready)
