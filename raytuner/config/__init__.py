"""The experiment: its schema, ``--set`` overrides and the one validation pass.

- :mod:`~raytuner.config.schema`: the sections of an experiment file and :class:`Experiment`;
- :mod:`~raytuner.config.validate`: :func:`load_experiment`, :func:`validate_experiment` (the one
  validation pass) and :func:`with_params` (a trial's sampled values, validated where they
  change);
- :mod:`~raytuner.config.overrides`: ``--set KEY=VALUE`` and dotted keys;
- :mod:`~raytuner.config.metrics`: the metric catalogue (names, directions, when reported).
"""

from raytuner.config._pydantic import validate_section
from raytuner.config.schema import (
    AugmentConfig,
    CheckpointConfig,
    CompressConfig,
    DataConfig,
    EarlyStoppingConfig,
    Experiment,
    FailureConfig,
    LRScheduleConfig,
    ResourcesConfig,
    SchedulerConfig,
    SearchConfig,
    TrainConfig,
)
from raytuner.config.validate import (
    apply_overrides,
    get_dotted,
    load_experiment,
    parse_override,
    set_dotted,
    validate_experiment,
    with_params,
)

__all__ = [
    "AugmentConfig", "CheckpointConfig", "CompressConfig", "DataConfig", "EarlyStoppingConfig",
    "Experiment", "FailureConfig", "LRScheduleConfig", "ResourcesConfig", "SchedulerConfig",
    "SearchConfig", "TrainConfig", "apply_overrides", "get_dotted", "load_experiment",
    "parse_override", "set_dotted", "validate_experiment", "validate_section", "with_params",
]
