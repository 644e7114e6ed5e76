"""What a built-in dataset declares about itself before it is loaded.

A dataset loader may carry attributes that validation reads without loading any data:
``num_classes`` (decides whether top-5 accuracy is reported) and ``augmentations`` (the
label-preserving augmentations that make sense for it, see
:mod:`raytuner.trial.augment`). The loaded
:class:`raytuner.data.DataBundle` is the authority; these only let ``raytuner validate`` refuse
a bad setting early, before Ray starts or anything is written.
"""

from __future__ import annotations

from typing import Any

from raytuner.data._registry import DATASETS


def declared_trait(data_name: str, attr: str, default: Any = None) -> Any:
    """Attribute ``attr`` of the registered loader ``data_name``, or ``default`` (unknown)."""
    if data_name not in DATASETS:
        return default  # user data sets by import path are checked once loaded
    return getattr(DATASETS.get(data_name).factory, attr, default)
