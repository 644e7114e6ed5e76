"""Datasets: name -> loader returning in-memory train/validation tensors.

A loader takes the validated ``data`` section and the experiment seed and returns a
:class:`DataBundle`. Bundles are loaded once on the driver and shared with every trial through
Ray's object store (``tune.with_parameters``), so trials never re-read the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from raytuner.data._registry import DATASET_INFO, DATASETS, SET_SPECIFIC_KEYS, DatasetInfo
from raytuner.data.bundle import DataBundle
from raytuner.data.subset import subset_bundle
from raytuner.data.synthetic import synthetic_bundle
from raytuner.data.user import as_bundle
from raytuner.errors import ConfigError

if TYPE_CHECKING:  # the config validates data sections with this package: no import back
    from raytuner.config.schema import DataConfig


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    return DATASETS.names()


def load_dataset(data_config: DataConfig, seed: int) -> DataBundle:
    """Load the dataset named by ``data_config.name`` with the split fixed by ``seed``.

    ``data.synthetic`` swaps in random stand-in data of the set's shape; ``data.subset`` and
    ``data.val_subset`` then keep stratified subsets fixed by ``seed``. A user's factory may
    return a :class:`DataBundle` or ``(train_set, val_set)`` torch Datasets.
    """
    if getattr(data_config, "synthetic", False):
        bundle = synthetic_bundle(data_config, seed)
    else:
        entry = DATASETS.get(data_config.name, path="data.name")
        bundle = as_bundle(entry.factory(data_config, seed), data_config.name)
    return subset_bundle(bundle, getattr(data_config, "subset", None),
                         getattr(data_config, "val_subset", None), seed)


def check_data_keys(data_config: DataConfig) -> None:
    """A ConfigError when a key is set that the chosen set does not read (e.g. ``val_root``
    for mnist) or when ``synthetic`` is asked of a user's set whose shape is unknown."""
    name = data_config.name
    info = DATASET_INFO.get(name)
    if info is None:  # a user's set receives the whole data section: every key may matter
        if data_config.synthetic:
            raise ConfigError(f"synthetic data needs a built-in set's shape; {name!r} is a "
                              "user data set", path="data.synthetic")
        return
    for key in SET_SPECIFIC_KEYS:
        if getattr(data_config, key) is not None and key not in info.keys:
            users = sorted(n for n, i in DATASET_INFO.items() if key in i.keys)
            raise ConfigError(f"data set {name!r} does not use {key!r} (got "
                              f"{getattr(data_config, key)!r}); it applies to: "
                              f"{', '.join(users) or 'none'} and user data sets",
                              path=f"data.{key}")
    for key, meaning in sorted(info.required.items()):
        if getattr(data_config, key) is None:
            raise ConfigError(f"data set {name!r} needs data.{key}: {meaning}",
                              path=f"data.{key}")


def resolve_data_paths(data_config: DataConfig) -> None:
    """Make ``data.root`` and ``data.val_root`` absolute, from the folder the experiment is
    loaded in: trials that load their own data run in their trial folders."""
    for key in ("root", "val_root"):
        value = getattr(data_config, key)
        if value:
            setattr(data_config, key, str(Path(value).expanduser().resolve()))


def check_data_ready(data_config: DataConfig) -> None:
    """A ConfigError before anything starts when loading is bound to fail: files absent with
    ``data.download: false``, an image folder that does not exist. Data that a download can
    still fetch passes (it is fetched, under a lock, when the run loads it)."""
    info = DATASET_INFO.get(data_config.name)
    if info is not None and info.ready is not None and not data_config.synthetic:
        info.ready(data_config)


def dataset_present(data_config: DataConfig) -> bool:
    """True when the set's files are on disk (user sets and embedded sets: always)."""
    info = DATASET_INFO.get(data_config.name)
    return True if info is None else bool(info.present(data_config))


# Register the built-in sets (imported for their side effect).
from raytuner.data import (  # noqa: E402,F401
    cifar10,
    cifar100,
    digits,
    fashion_mnist,
    imagefolder,
    mnist,
)

__all__ = ["DATASETS", "DATASET_INFO", "DataBundle", "DatasetInfo", "check_data_keys",
           "check_data_ready", "dataset_present", "list_datasets", "load_dataset",
           "resolve_data_paths"]
