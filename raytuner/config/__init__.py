"""The experiment: its schema, ``--set`` overrides and the one validation pass.

- :mod:`~raytuner.config.schema`: the sections of an experiment file and :class:`Experiment`;
- :mod:`~raytuner.config.validate`: :func:`load_experiment`, :func:`validate_experiment` (the one
  validation pass) and :func:`with_params` (a trial's sampled values, validated where they
  change);
- :mod:`~raytuner.config.checks`: the checks across sections that validation runs;
- :mod:`~raytuner.config.overrides`: ``--set KEY=VALUE`` and dotted keys;
- :mod:`~raytuner.config.metrics`: the metric catalogue (names, directions, when reported).
"""

from raytuner._lazy import exports

__getattr__, __dir__, __all__ = exports(__name__, {
    **dict.fromkeys(["AugmentConfig", "CheckpointConfig", "CompressConfig", "DataConfig",
                     "EarlyStoppingConfig", "Experiment", "FailureConfig", "LRScheduleConfig",
                     "ResourcesConfig", "SchedulerConfig", "SearchConfig", "TrainConfig"],
                    "schema"),
    **dict.fromkeys(["load_experiment", "validate_experiment", "with_params"], "validate"),
    **dict.fromkeys(["apply_overrides", "get_dotted", "parse_override", "set_dotted"],
                    "overrides"),
    "validate_section": "_pydantic",
})
