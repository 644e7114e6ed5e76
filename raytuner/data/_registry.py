"""The registry of data sets, and what raytuner knows about a built-in set before loading it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from raytuner.registry import Registry

if TYPE_CHECKING:  # the config validates data sections with this package: no import back
    from raytuner.config.schema import DataConfig

#: ``data.name`` -> ``loader(data_config, seed) -> DataBundle`` (or a pair of torch Datasets)
DATASETS: Registry[Callable[[DataConfig, int], Any]] = Registry("dataset")


@dataclass(frozen=True)
class DatasetInfo:
    """What raytuner knows about a built-in set without loading it.

    ``keys``: the optional ``data.*`` keys it reads (others set for it are errors);
    ``shape(cfg)``: ``((C, H, W), num_classes)`` for synthetic stand-in data;
    ``present(cfg)``: whether its files are where ``cfg`` says (no download, no decoding).
    """

    keys: frozenset[str]
    shape: Callable[[Any], tuple[tuple[int, int, int], int]]
    present: Callable[[Any], bool]
    required: dict[str, str] = field(default_factory=dict)  # key -> what it must name
    where: Callable[[Any], str] | None = None  # the folder its files belong in
    ready: Callable[[Any], None] | None = None  # ConfigError now if loading cannot work


#: optional ``data.*`` keys that only some sets read; None means "not set"
SET_SPECIFIC_KEYS = ("root", "val_root", "download", "image_size", "channels")

DATASET_INFO: dict[str, DatasetInfo] = {}


#: optional ``data.*`` keys that only some sets read; None means "not set"
SET_SPECIFIC_KEYS = ("root", "val_root", "download", "image_size", "channels")

#: ``data.name`` -> what raytuner knows about the built-in set
DATASET_INFO: dict[str, DatasetInfo] = {}
