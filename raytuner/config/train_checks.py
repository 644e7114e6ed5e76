"""Whole-experiment checks of the training toolbox that a single section cannot make."""

from __future__ import annotations

from raytuner.errors import ConfigError
from raytuner.trial.augment import check_augment


def check_train_options(exp) -> None:
    """ConfigError for settings that contradict each other or the data set's declaration:
    augmentation a built-in set does not allow, a plateau schedule watching a fold spread."""
    from raytuner.data.traits import declared_trait

    check_augment(exp.train.augment, declared_trait(exp.data.name, "augmentations"),
                  exp.data.name)
    schedule = exp.train.lr_schedule
    if (schedule.name == "plateau" and schedule.monitor == "search"
            and exp.search.metric.endswith("_std")):
        raise ConfigError(f"a plateau schedule cannot watch the fold spread "
                          f"{exp.search.metric!r} (each fold trains alone); use monitor: "
                          "val_loss or a mean metric as search.metric",
                          path="train.lr_schedule.monitor")
