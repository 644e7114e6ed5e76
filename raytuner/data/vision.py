"""The torchvision sets (MNIST, Fashion-MNIST, CIFAR-10/100): files, download, loading.

Each set is read through its real torchvision class. Downloads use torchvision's own
``download=True`` inside a file lock in the shared data folder, so trials and runs on one
machine never download or extract the same set twice at once. Offline, archives placed by hand
are extracted here (torchvision only extracts what it downloads or what matches its published
checksums), and an absent set is an error that says which files to put where.

The training split is divided into train/validation (``data.val_fraction``, stratified, fixed by
the seed); the official test split is left alone for a final, untuned evaluation.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from raytuner.data._registry import DATASET_INFO, DATASETS, DatasetInfo
from raytuner.data.bundle import DataBundle
from raytuner.data.paths import Timeout, data_root, set_lock
from raytuner.data.split import stratified_split
from raytuner.data.subset import stratified_subset
from raytuner.errors import ConfigError, RunError
from raytuner.files import atomic_write

if TYPE_CHECKING:  # the config validates with this module: no import back at runtime
    import torch

    from raytuner.config.schema import DataConfig

#: data.* keys every torchvision set reads
VISION_KEYS = frozenset({"root", "download"})


@dataclass(frozen=True)
class VisionSet:
    """A torchvision set: where its files go and how its pixels are normalized."""

    name: str                       # raytuner's name, e.g. "mnist"
    tv_class: str                   # torchvision.datasets class, e.g. "MNIST"
    shape: tuple[int, int, int]     # (C, H, W) of one image
    num_classes: int
    mean: tuple[float, ...]         # published per-channel statistics of the training split
    std: tuple[float, ...]
    #: label-preserving augmentations (a mirrored digit is not the same digit)
    augmentations: tuple[str, ...] = ("crop", "hflip")

    @property
    def cls(self) -> Any:
        # deferred: torchvision is heavy; it loads only when a torchvision set is read
        import torchvision.datasets

        return getattr(torchvision.datasets, self.tv_class)

    @property
    def is_mnist_like(self) -> bool:
        return hasattr(self.cls, "resources")

    def folder(self, root: Path) -> Path:
        """The folder torchvision reads the files from."""
        if self.is_mnist_like:
            return root / self.tv_class / "raw"
        return root / self.cls.base_folder

    def files(self) -> list[str]:
        """The files torchvision needs in :meth:`folder` (it checks all, test split too)."""
        cls = self.cls
        if self.is_mnist_like:
            return [os.path.splitext(os.path.basename(url))[0] for url, _ in cls.resources]
        return [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]

    def present(self, root: Path) -> bool:
        folder = self.folder(root)
        return all((folder / name).is_file() for name in self.files())

    def where_to_put(self, root: Path) -> str:
        """Instructions for an offline machine: which files, from where, to which folder."""
        cls, folder = self.cls, self.folder(root)
        if self.is_mnist_like:
            names = ", ".join(name for name, _ in cls.resources)
            return (f"on a machine with internet download {names} from {cls.mirrors[0]} and put "
                    f"them (gzipped or not) in {folder}/")
        return (f"on a machine with internet download {cls.url} and put it in {root}/ "
                f"(extracted automatically), or extract it there so that {folder}/ holds "
                f"{', '.join(self.files())}")


def _gunzip(source: Path, target: Path) -> None:
    # atomic: a crash never leaves a half-written file under the real name
    with gzip.open(source, "rb") as src, atomic_write(target, "wb") as dst:
        shutil.copyfileobj(src, dst)


def extract_placed_archives(spec: VisionSet, root: Path) -> None:
    """Unpack archives a user placed by hand (MNIST ``*.gz`` in ``raw/``, the CIFAR tarball
    in the root), so the set loads offline and with ``download: false``."""
    folder = spec.folder(root)
    if spec.is_mnist_like:
        for name in spec.files():
            if not (folder / name).is_file() and (folder / f"{name}.gz").is_file():
                _gunzip(folder / f"{name}.gz", folder / name)
        return
    archive = root / spec.cls.filename
    if not spec.present(root) and archive.is_file():
        # deferred: torchvision is heavy; it loads only when a torchvision set is read
        from torchvision.datasets.utils import extract_archive

        extract_archive(str(archive), str(root))


def archives_placed(spec: VisionSet, root: Path) -> bool:
    """True when the archives a user may place by hand are all there (not yet extracted)."""
    folder = spec.folder(root)
    if spec.is_mnist_like:
        return all((folder / name).is_file() or (folder / f"{name}.gz").is_file()
                   for name in spec.files())
    return (root / spec.cls.filename).is_file()


def _absent_message(spec: VisionSet, root: Path) -> str:
    return (f"{spec.name} is not in {spec.folder(root)} and data.download is false; "
            f"{spec.where_to_put(root)}, or point data.root (or $RAYTUNER_DATA) at a folder "
            "that has them")


def check_ready(spec: VisionSet, data_config: DataConfig) -> None:
    """A ConfigError when the set is absent and may not be downloaded (checked before a run
    starts, so nothing is written and Ray is not started)."""
    root = data_root(data_config)
    if data_config.download is False and not (spec.present(root) or archives_placed(spec, root)):
        raise ConfigError(_absent_message(spec, root), path="data.root")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _lock_or_read_only(spec: VisionSet, root: Path):
    """The set's file lock; in a read-only data folder that already holds the set (a shared
    mount on a cluster) nothing will be written, so no lock is needed."""
    lock = set_lock(root, spec.tv_class)
    try:
        lock.acquire()
    except PermissionError:
        if spec.present(root):
            return contextlib.nullcontext()
        raise ConfigError(f"the data folder {root} is not writable and does not hold "
                          f"{spec.name}; {spec.where_to_put(root)}", path="data.root") from None
    lock.release()  # re-entered below as a context manager
    return lock


def open_vision_set(spec: VisionSet, data_config: DataConfig) -> Any:
    """The torchvision training-split dataset, downloaded first when absent and allowed."""
    root = data_root(data_config)
    download = data_config.download is not False
    try:
        with _lock_or_read_only(spec, root):
            extract_placed_archives(spec, root)
            if not spec.present(root):
                if not download:
                    raise ConfigError(_absent_message(spec, root), path="data.root")
                try:
                    spec.cls(str(root), train=True, download=True)
                except Exception as exc:  # no network, a proxy, a bad mirror: all the same
                    raise RunError(f"{spec.name} is not in {spec.folder(root)} and downloading "
                                   f"it failed ({_first_line(exc)}); {spec.where_to_put(root)}"
                                   ) from exc
            try:
                return spec.cls(str(root), train=True, download=False)
            except RuntimeError as exc:
                raise RunError(f"{spec.name} files in {spec.folder(root)} could not be read "
                               f"({_first_line(exc)}); remove them and run again to download, "
                               f"or {spec.where_to_put(root)}") from exc
    except Timeout:
        raise RunError(f"timed out waiting for another process to finish preparing "
                       f"{spec.name} in {root}") from None


def _images_and_labels(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 ``(N, C, H, W)`` images and int64 labels straight from torchvision's arrays
    (no per-image PIL round trip)."""
    import torch

    images = torch.as_tensor(np.asarray(dataset.data))
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
    labels = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)
    return images, labels


def load_vision_set(spec: VisionSet, data_config: DataConfig, seed: int) -> DataBundle:
    """The set as normalized float tensors with a stratified train/validation split.

    Memory: float32 tensors of the whole training split (MNIST 188 MB, CIFAR 614 MB), held once
    in Ray's object store and shared by the trials of a node. ``data.subset`` and
    ``data.val_subset`` are applied before the float conversion, so small runs stay small.
    """
    import torch

    images, labels = _images_and_labels(open_vision_set(spec, data_config))
    if tuple(images.shape[1:]) != spec.shape or int(labels.max()) >= spec.num_classes:
        raise RunError(f"{spec.name} files hold images of shape {tuple(images.shape[1:])} and "
                       f"labels up to {int(labels.max())}; expected {spec.shape} and fewer "
                       f"than {spec.num_classes} classes")
    train_idx, val_idx = stratified_split(labels.numpy(), data_config.val_fraction, seed)
    if data_config.subset:
        train_idx = train_idx[stratified_subset(labels[train_idx].numpy(),
                                                data_config.subset, seed)]
    if data_config.val_subset:
        val_idx = val_idx[stratified_subset(labels[val_idx].numpy(),
                                            data_config.val_subset, seed)]
    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)

    def to_float(idx: np.ndarray) -> torch.Tensor:
        import torch

        return (images[torch.as_tensor(idx)].float() / 255.0 - mean) / std

    return DataBundle(spec.name, to_float(train_idx), labels[train_idx], to_float(val_idx),
                      labels[val_idx], spec.num_classes, augmentations=spec.augmentations)


def register_vision_set(spec: VisionSet) -> None:
    """Register ``spec`` as a data set and record what raytuner knows about it."""
    def load(data_config: DataConfig, seed: int) -> DataBundle:
        return load_vision_set(spec, data_config, seed)

    # declared for checks before loading (raytuner.data_traits)
    load.num_classes = spec.num_classes
    load.augmentations = spec.augmentations
    DATASETS.register(spec.name)(load)
    DATASET_INFO[spec.name] = DatasetInfo(
        keys=VISION_KEYS, shape=lambda cfg: (spec.shape, spec.num_classes),
        present=lambda cfg: spec.present(data_root(cfg)),
        where=lambda cfg: str(spec.folder(data_root(cfg))),
        ready=lambda cfg: check_ready(spec, cfg))
