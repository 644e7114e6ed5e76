"""The one validation pass: an experiment file (or mapping) to a validated :class:`Experiment`."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from raytuner.config._pydantic import validate_section
from raytuner.config.schema import Experiment
from raytuner.errors import ConfigError
from raytuner.files import parse_yaml, read_yaml_file
from raytuner.search.space import Param, all_params, max_value, nest_point, parse_space


def parse_override(text: str) -> tuple[str, Any]:
    """``"a.b=3"`` -> ``("a.b", 3)``; the value is read as YAML (numbers, bools, lists...)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"malformed --set {text!r}; expected KEY=VALUE with a dotted KEY, "
                          "e.g. --set train.epochs=5")
    value = parse_yaml(raw, source=f"--set {key}") if raw.strip() else ""
    return key, value


def set_dotted(data: dict[str, Any], key: str, value: Any, *, source: str = "--set") -> None:
    """Set ``data[a][b][c] = value`` for ``key = "a.b.c"``, creating sections as needed.

    Keys below ``search.space`` are dotted paths themselves, so everything after
    ``search.space.`` is one key.
    """
    parts = key.split(".")
    if parts[:2] == ["search", "space"] and len(parts) > 2:
        parts = ["search", "space", ".".join(parts[2:])]
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key!r}: {'.'.join(parts[:i + 1])} is "
                              f"{type(child).__name__}, not a section", source=source)
        node = child
    node[parts[-1]] = value


def get_dotted(data: dict[str, Any], key: str) -> Any:
    """``data[a][b][c]`` for ``key = "a.b.c"``; KeyError when absent."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def validate_experiment(raw: Any, *, source: str = "<experiment>",
                        check_space: bool = True) -> Experiment:
    """Validate a raw experiment mapping: schema, model settings, metric and search space."""
    if not isinstance(raw, dict):
        kind = "empty" if raw is None else type(raw).__name__
        raise ConfigError(f"expected a mapping at the top level, got {kind}", source=source)
    raw = copy.deepcopy(raw)
    raw.setdefault("model", {"name": "cnn"})
    exp = validate_section(Experiment, raw, source=source)
    assert isinstance(exp, Experiment)
    _validate_model(exp, source)
    _validate_dataset(exp, source)
    _validate_train_options(exp, source)
    if check_space:
        from raytuner.config.validate import check_consistency, check_space_against_experiment
        from raytuner.trial.metrics import check_metric_name

        try:
            check_metric_name(exp.search.metric, exp, path="search.metric")
            check_space_against_experiment(exp)
            check_consistency(exp)
        except ConfigError as exc:
            if exc.source is None:
                raise ConfigError(str(exc), source=source) from None
            raise
    return exp


def _validate_dataset(exp: Experiment, source: str) -> None:
    from raytuner.data import DATASETS, check_data_keys, resolve_data_paths

    try:
        DATASETS.get(exp.data.name, path="data.name")
        check_data_keys(exp.data)
        resolve_data_paths(exp.data)
    except ConfigError as exc:
        raise ConfigError(str(exc), source=source) from None


def _validate_train_options(exp: Experiment, source: str) -> None:
    from raytuner.config.train_checks import check_train_options

    try:
        check_train_options(exp)
    except ConfigError as exc:
        raise ConfigError(str(exc), source=source) from None


def _validate_model(exp: Experiment, source: str) -> None:
    from raytuner.models import validate_model_settings

    model = exp.model
    name = model.get("name")
    if not isinstance(name, str):
        raise ConfigError(f"required key must be a model name (got {name!r})",
                          source=source, path="model.name")
    try:
        settings = validate_model_settings(name, exp.model_settings)
    except ConfigError as exc:
        raise ConfigError(str(exc), source=source) from None
    exp.model = {"name": name, **settings}


def load_experiment(path: str | Path, overrides: list[str] | dict[str, Any] | None = None
                    ) -> Experiment:
    """Read, override and validate an experiment file.

    ``overrides`` are ``"key=value"`` strings (as with ``--set``) or a ``{key: value}`` dict.
    """
    raw = read_yaml_file(path)
    if isinstance(raw, dict):
        apply_overrides(raw, overrides)
    return validate_experiment(raw, source=str(path))


def apply_overrides(raw: dict[str, Any], overrides: list[str] | dict[str, Any] | None) -> None:
    """Apply ``--set`` style overrides to a raw experiment mapping in place."""
    if not overrides:
        return
    items = overrides.items() if isinstance(overrides, dict) else map(parse_override, overrides)
    for key, value in items:
        set_dotted(raw, key, value)


def with_params(exp: Experiment, params: dict[str, Any]) -> Experiment:
    """The experiment with sampled ``{dotted.path: value}`` params applied and re-validated."""
    raw = exp.to_dict()
    for key, value in params.items():
        set_dotted(raw, key, value, source="search.space")
    return validate_experiment(raw, source="sampled trial config", check_space=False)


def check_space_against_experiment(exp) -> list[Param]:
    """Parse ``exp.search.space`` and check that every searched value is a valid setting of
    the experiment, that the algorithm can handle the space, and the seeded points fit it."""
    from raytuner.config.validate import with_params

    space = parse_space(exp.search.space)
    _check_unique_paths(space, set())
    algorithm = exp.search.algorithm
    for param in all_params(space):
        where = f"search.space.{param.path}"
        for value in param.representative_values():
            try:
                with_params(exp, {param.path: value})
            except ConfigError as exc:
                message = str(exc).split(": ", 1)[-1]
                raise ConfigError(f"value {value!r} is not a valid setting: {message}",
                                  path=where) from None
        if algorithm == "hyperopt" and param.kind == "grid":
            raise ConfigError("grid values need search.algorithm random or grid; "
                              "use choice with hyperopt", path=where)
        if algorithm == "grid" and param.finite_values() is None:
            raise ConfigError(f"search.algorithm grid needs finite domains; {param.kind} is "
                              "continuous (use grid, choice, or int)", path=where)
    if algorithm == "grid" and not space:
        raise ConfigError("search.algorithm grid needs at least one searched key",
                          path="search.space")
    for i, point in enumerate(exp.search.points_to_evaluate):
        nest_point(space, point, where=f"search.points_to_evaluate[{i}]")
    return space


def _check_unique_paths(space: list[Param], outer: set[str]) -> None:
    names = set(outer)
    for param in space:
        if param.path in names:
            raise ConfigError(f"{param.path!r} is searched twice on one branch",
                              path=f"search.space.{param.path}")
        names.add(param.path)
    for param in space:
        for option in param.options:
            _check_unique_paths(option.subspace, names)


def check_consistency(exp: Experiment) -> None:
    """Refuse settings that cannot all hold at once; each error names the key to change."""
    from raytuner.search.space import all_params, parse_space

    space = parse_space(exp.search.space)
    searched = {p.path for p in all_params(space)}
    _check_mode_matches_metric(exp)
    _check_grace_period(exp, int(max_value(space, "train.epochs", exp.train.epochs)))
    _check_nesterov(exp, searched)
    gpu = exp.resources.gpu
    if gpu > 1 and not float(gpu).is_integer():
        raise ConfigError(f"{gpu:g} GPUs per trial: Ray shares a GPU only in fractions up to 1; "
                          "use a whole number above 1 (e.g. 2) or a fraction such as 0.5",
                          path="resources.gpu")


def _check_mode_matches_metric(exp: Experiment) -> None:
    from raytuner.trial.metrics import EPOCH_METRICS

    # An error, not a warning: minimizing an accuracy (or maximizing a loss) silently spends
    # the whole budget searching for the worst model; nobody wants that by accident.
    direction = EPOCH_METRICS.get(exp.search.metric, "")
    if direction in ("min", "max") and direction != exp.search.mode:
        better = "higher" if direction == "max" else "lower"
        raise ConfigError(f"mode {exp.search.mode!r} contradicts search.metric "
                          f"{exp.search.metric!r}, which is better when {better}; "
                          f"use mode: {direction}", path="search.mode")


def _check_grace_period(exp: Experiment, longest: int) -> None:
    scheduler = exp.search.scheduler
    if scheduler.name == "asha" and scheduler.grace_period > longest:
        raise ConfigError(f"grace_period {scheduler.grace_period} is longer than the longest "
                          f"trial ({longest} epochs, train.epochs): ASHA could never stop a "
                          f"trial early; use at most {longest}, or scheduler name fifo",
                          path="search.scheduler.grace_period")


def _check_nesterov(exp: Experiment, searched: set[str]) -> None:
    train = exp.train
    if not train.nesterov:
        return
    if train.optimizer != "sgd" and "train.optimizer" not in searched:
        raise ConfigError(f"nesterov applies to optimizer sgd only (optimizer is "
                          f"{train.optimizer!r}); remove it or use optimizer: sgd",
                          path="train.nesterov")
    if train.momentum == 0 and "train.momentum" not in searched:
        raise ConfigError("nesterov needs momentum > 0 (momentum is 0); set train.momentum "
                          "or remove nesterov", path="train.nesterov")
