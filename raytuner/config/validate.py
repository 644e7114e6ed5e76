"""The one validation pass: an experiment file (or mapping) to a validated :class:`Experiment`,
and a trial's sampled values applied to it with a validation of only what they change.

:func:`validate_experiment` checks the schema, the model's settings, the data set, the
training options, the search metric, every searched value (each bound and option applied with
:func:`with_params`) and the settings across sections, and keeps the parsed search space on
the experiment, so that nothing downstream parses or validates it again.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from raytuner.config._pydantic import validate_section
from raytuner.config.checks import check_consistency, check_train_options
from raytuner.config.metrics import check_metric_name, check_objectives
from raytuner.config.overrides import apply_overrides, set_dotted
from raytuner.config.schema import DataConfig, Experiment, TrainConfig
from raytuner.data import DATASETS, check_data_keys, resolve_data_paths
from raytuner.errors import ConfigError
from raytuner.files import read_yaml_file
from raytuner.models import validate_model_settings
from raytuner.search.searchers import SEARCHERS
from raytuner.search.space import Param, Space, all_params, nest_point, parse_space

#: the ``source`` a trial's validation errors name
SAMPLED = "sampled trial config"


@contextmanager
def _from(source: str) -> Iterator[None]:
    """Name ``source`` (the file) in every ConfigError raised inside that names none yet."""
    try:
        yield
    except ConfigError as exc:
        if exc.source is None:
            raise ConfigError(str(exc), source=source) from None
        raise


def load_experiment(path: str | Path, overrides: list[str] | dict[str, Any] | None = None
                    ) -> Experiment:
    """Read, override and validate an experiment file.

    ``overrides`` are ``"key=value"`` strings (as with ``--set``) or a ``{key: value}`` dict.
    """
    raw = read_yaml_file(path)
    if isinstance(raw, dict):
        apply_overrides(raw, overrides)
    return validate_experiment(raw, source=str(path))


def validate_experiment(raw: Any, *, source: str = "<experiment>") -> Experiment:
    """Validate a raw experiment mapping: schema, model settings, data set, training options,
    metric, search space and the settings across sections (see the module docstring)."""
    if not isinstance(raw, dict):
        kind = "empty" if raw is None else type(raw).__name__
        raise ConfigError(f"expected a mapping at the top level, got {kind}", source=source)
    raw = copy.deepcopy(raw)
    raw.setdefault("model", {"name": "cnn"})
    exp = validate_section(Experiment, raw, source=source)
    assert isinstance(exp, Experiment)  # validate_section returns an instance of its class
    with _from(source):
        exp.model = _model_section(exp.model)
        _check_data(exp.data)
        check_train_options(exp)
        if exp.search.multi_objective:
            check_objectives(exp)
        else:
            check_metric_name(exp.search.metric, exp, path="search.metric")
        for i, name in enumerate(exp.train.metrics):
            check_metric_name(name, exp, path=f"train.metrics[{i}]")
        exp._space = _check_space(exp)
        check_consistency(exp, exp.space)
    return exp


def with_params(exp: Experiment, params: dict[str, Any], *, source: str = SAMPLED
                ) -> Experiment:
    """``exp`` with sampled ``{dotted.path: value}`` params applied.

    Only the sections the params change (``data``, ``model``, ``train``) are validated again,
    with the checks that read them; the rest of the experiment, its parsed space included, is
    shared with ``exp``.
    """
    if not params:
        return exp
    sections = {key.split(".", 1)[0] for key in params}
    raw = exp.model_dump(mode="json", include=sections)
    for key, value in params.items():
        set_dotted(raw, key, value, source="search.space")
    updates: dict[str, Any] = {}
    with _from(source):
        if "data" in raw:
            updates["data"] = validate_section(DataConfig, raw["data"], path="data")
            _check_data(updates["data"])
        if "model" in raw:
            updates["model"] = _model_section(raw["model"])
        if "train" in raw:
            updates["train"] = validate_section(TrainConfig, raw["train"], path="train")
        unknown = sorted(set(raw) - set(updates))
        if unknown:
            raise ConfigError(f"{unknown[0]!r} cannot be searched; searched keys start with "
                              "data., model. or train.", path=unknown[0])
        new = exp.model_copy(update=updates)
        if "data" in updates or "train" in updates:
            check_train_options(new)
    return new


def _model_section(model: dict[str, Any]) -> dict[str, Any]:
    """The ``model`` section with its settings checked and their defaults filled."""
    name = model.get("name")
    if not isinstance(name, str):
        raise ConfigError(f"required key must be a model name (got {name!r})", path="model.name")
    settings = {k: v for k, v in model.items() if k != "name"}
    return {"name": name, **validate_model_settings(name, settings)}


def _check_data(data: DataConfig) -> None:
    """A known data set (or import path), only the keys it reads, and absolute folders."""
    DATASETS.get(data.name, path="data.name")
    check_data_keys(data)
    resolve_data_paths(data)


def _check_space(exp: Experiment) -> Space:
    """Parse ``search.space`` and check that every searched value is a valid setting of the
    experiment, that the algorithm can search the space, and that the seeded points fit it."""
    space = parse_space(exp.search.space)
    _check_unique_paths(space, set())
    algorithm = SEARCHERS.get(exp.search.algorithm).factory
    for param in all_params(space):
        where = f"search.space.{param.path}"
        for value in param.representative_values():
            try:
                with_params(exp, {param.path: value})
            except ConfigError as exc:
                message = str(exc).split(": ", 1)[-1]
                raise ConfigError(f"value {value!r} is not a valid setting: {message}",
                                  path=where) from None
        algorithm.check_param(param, where)
    algorithm.check_space(space)
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
