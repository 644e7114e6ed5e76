"""The declarative search space: parsing it, and what is done with a parsed space.

In YAML, ``search.space`` maps a dotted path of the experiment (``train.lr``, ``model.depth``)
to a domain::

    train.lr:        {loguniform: [1.0e-4, 1.0e-1]}
    train.momentum:  {uniform: [0.5, 0.99]}
    model.depth:     {int: [1, 3]}                 # inclusive; optional step, log
    model.channels:  {int: [16, 64], step: 16}
    model.dropout:   {uniform: [0.0, 0.5], step: 0.1}
    model.pool:      {choice: [max, avg]}
    train.batch_size: {grid: [32, 64]}             # every value (random/grid search)
    train.optimizer:                                # conditional branches
      choice:
        - {value: sgd, space: {train.momentum: {uniform: [0.8, 0.99]}}}
        - adam

:func:`parse_space` turns that mapping into a list of typed domains (:mod:`.domains`), once, when
the experiment is validated (:attr:`raytuner.config.schema.Experiment.space` keeps it). A
sampled trial config is nested (a branch is a dict with ``__value__``); :func:`flatten` turns it
into ``{dotted.path: value}`` for :func:`raytuner.config.validate.with_params`. A leaf: it
imports nothing of raytuner but its errors and domains.
"""

from __future__ import annotations

from typing import Any

from raytuner.errors import ConfigError
from raytuner.search.domains import (
    BRANCH_VALUE,
    KINDS,
    MODIFIERS,
    IntRange,
    Option,
    Options,
    Param,
    Range,
)

#: the experiment sections a search may change
SEARCHABLE_SECTIONS = ("data", "model", "train")

Space = list[Param]


def all_params(space: Space) -> list[Param]:
    """Every param, nested ones included, depth first."""
    out: list[Param] = []
    for param in space:
        out.append(param)
        for option in param.options:
            out.extend(all_params(option.subspace))
    return out


def searched_paths(space: Space) -> list[str]:
    """Every searched dotted path once, in the order of the space."""
    return list(dict.fromkeys(p.path for p in all_params(space)))


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_space(raw: dict[str, Any], *, path: str = "search.space") -> Space:
    """Parse the YAML mapping of ``search.space`` into typed domains."""
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping of dotted paths to domains, got {raw!r}",
                          path=path)
    return [_parse_param(key, spec, f"{path}.{key}") for key, spec in raw.items()]


def _parse_param(key: str, spec: Any, where: str) -> Param:
    section = key.split(".", 1)[0]
    if section not in SEARCHABLE_SECTIONS or "." not in key:
        raise ConfigError(f"searched key must start with one of {', '.join(SEARCHABLE_SECTIONS)}"
                          f" and name a setting, e.g. train.lr (got {key!r})", path=where)
    if not isinstance(spec, dict):
        raise ConfigError(f"expected a domain such as {{uniform: [0, 1]}} or {{choice: [a, b]}}, "
                          f"got {spec!r}; allowed domains: {', '.join(KINDS)}", path=where)
    kinds = [k for k in spec if k in KINDS]
    if len(kinds) != 1:
        raise ConfigError(f"expected exactly one domain among {', '.join(KINDS)}, "
                          f"got keys {sorted(spec)}", path=where)
    kind = kinds[0]
    extra = set(spec) - {kind} - MODIFIERS[kind]
    if extra:
        allowed = ", ".join(sorted(MODIFIERS[kind])) or "none"
        raise ConfigError(f"unknown option(s) {sorted(extra)} for {kind}; allowed: {allowed}",
                          path=where)
    if kind in ("choice", "grid"):
        return _parse_options(key, kind, spec[kind], where)
    return _parse_range(key, kind, spec, where)


def _parse_range(key: str, kind: str, spec: dict, where: str) -> Param:
    bounds = spec[kind]
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)):
        raise ConfigError(f"{kind} takes [low, high] numbers, got {bounds!r}", path=where)
    low, high = float(bounds[0]), float(bounds[1])
    if kind == "int" and not all(float(b).is_integer() for b in bounds):
        raise ConfigError(f"int takes whole-number bounds, got {bounds!r}", path=where)
    if low >= high:
        raise ConfigError(f"low must be below high, got [{bounds[0]}, {bounds[1]}]", path=where)
    log = bool(spec.get("log", False)) or kind == "loguniform"
    if log and low <= 0:
        raise ConfigError(f"a log-scaled range needs low > 0, got [{bounds[0]}, {bounds[1]}]",
                          path=where)
    step = spec.get("step")
    if step is not None:
        _check_step(kind, step, low, high, bounds[0], where)
    cls = IntRange if kind == "int" else Range
    return cls(key, kind, low, high, step, log)


def _check_step(kind: str, step: Any, low: float, high: float, given_low: Any,
                where: str) -> None:
    if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0:
        raise ConfigError(f"step must be a positive number, got {step!r}", path=where)
    if kind == "int" and not float(step).is_integer():
        raise ConfigError(f"int step must be a whole number, got {step!r}", path=where)
    if step > high - low:
        raise ConfigError(f"step {step} is larger than the range [{low}, {high}]", path=where)
    # Ray and HyperOpt both quantize to multiples of step, so low must be one.
    if kind != "loguniform" and abs(low / step - round(low / step)) > 1e-9:
        raise ConfigError(f"low {given_low} must be a multiple of step {step}", path=where)


def _parse_options(key: str, kind: str, values: Any, where: str) -> Param:
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{kind} takes a non-empty list of values, got {values!r}", path=where)
    options: list[Option] = []
    for i, item in enumerate(values):
        if isinstance(item, dict) and "value" in item and set(item) <= {"value", "space"}:
            sub = parse_space(item.get("space") or {}, path=f"{where}[{i}].space")
            if any(nested.path == key for nested in sub):
                raise ConfigError(f"a branch cannot search its own key {key!r}",
                                  path=f"{where}[{i}].space")
            options.append(Option(item["value"], sub))
        else:
            options.append(Option(item))
    seen: list[Any] = []
    for option in options:
        if option.value in seen:
            raise ConfigError(f"value {option.value!r} is listed twice", path=where)
        seen.append(option.value)
    return Options(key, kind, options)


# ---------------------------------------------------------------------------------------------
# Questions about a space


def max_value(space: Space, path: str, default: Any) -> Any:
    """The largest value ``path`` can take in the space (e.g. the longest ``train.epochs``)."""
    values = [v for p in all_params(space) if p.path == path for v in p.representative_values()]
    return max(values or [default])


def grid_size(space: Space) -> int:
    """Number of configurations a grid search over ``space`` enumerates."""
    total = 1
    for p in space:
        if p.options:
            total *= sum(grid_size(o.subspace) for o in p.options)
        else:
            total *= len(p.finite_values() or [])
    return total


def describe(space: Space) -> dict[str, dict[str, Any]]:
    """``{path: {"kind", "low", "high", "values"}}`` for reports and TensorBoard's HParams."""
    out: dict[str, dict[str, Any]] = {}
    for p in all_params(space):
        entry = out.setdefault(p.path, {"kind": p.kind, "low": getattr(p, "low", None),
                                        "high": getattr(p, "high", None), "values": []})
        for value in p.finite_values() or []:
            if value not in entry["values"]:
                entry["values"].append(value)
    return out


# ---------------------------------------------------------------------------------------------
# Translations


def to_ray(space: Space, *, grid: bool = False) -> dict[str, Any]:
    """Ray Tune ``param_space`` for random search (``grid=False``) or grid search."""
    return {p.path: p.to_ray(grid=grid, translate=lambda sub: to_ray(sub, grid=grid))
            for p in space}


def to_hyperopt(space: Space, *, prefix: str = "") -> dict[str, Any]:
    """HyperOpt space; labels are dotted paths, nested ones prefixed by their branch."""
    return {p.path: p.to_hyperopt(prefix + p.path,
                                  lambda sub, nested: to_hyperopt(sub, prefix=nested))
            for p in space}


def hyperopt_labels(space: Space, *, prefix: str = "") -> list[str]:
    """Every HyperOpt label of the space, inactive branches included."""
    labels: list[str] = []
    for p in space:
        label = prefix + p.path
        labels.append(label)
        for o in p.options:
            labels += hyperopt_labels(o.subspace, prefix=f"{label}={o.value}/")
    return labels


def hyperopt_point(space: Space, flat: dict[str, Any], *, prefix: str = "") -> dict:
    """A seeded point as HyperOpt wants it: ``{label: value}``, choices as indices."""
    out: dict[str, Any] = {}
    for p in space:
        label = prefix + p.path
        value = flat[p.path]
        out[label] = p.hyperopt_value(value)
        for option in p.options:
            if option.value == value:
                out.update(hyperopt_point(option.subspace, flat, prefix=f"{label}={value}/"))
    return out


def nest_point(space: Space, flat: dict[str, Any], *, where: str) -> dict[str, Any]:
    """Check a seeded ``{dotted.path: value}`` point against the space; return it nested the way
    Ray's variant generator samples configs (branches as ``__value__`` dicts)."""
    if not isinstance(flat, dict):
        raise ConfigError(f"expected a mapping of searched paths to values, got {flat!r}",
                          path=where)
    known = set(searched_paths(space))
    unknown = sorted(set(flat) - known)
    if unknown:
        raise ConfigError(f"{unknown[0]!r} is not a searched key; searched: "
                          f"{', '.join(sorted(known))}", path=where)
    return _nest(space, flat, where)


def _nest(space: Space, flat: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in space:
        if p.path not in flat:
            raise ConfigError(f"missing a value for {p.path!r} (every searched key on the "
                              "chosen branches needs one)", path=where)
        value = flat[p.path]
        option = p.check_value(value, where)
        if option is not None and option.subspace:
            out[p.path] = {BRANCH_VALUE: value, **_nest(option.subspace, flat, where)}
        else:
            out[p.path] = value
    return out


def active_params(space: Space, flat: dict[str, Any]) -> dict[str, Any]:
    """The values of ``flat`` on the branches it chooses (inactive branches left out)."""
    out: dict[str, Any] = {}
    for p in space:
        value = flat[p.path]
        out[p.path] = value
        for option in p.options:
            if option.value == value:
                out.update(active_params(option.subspace, flat))
    return out


def flatten(sampled: dict[str, Any], space: Space | None = None) -> dict[str, Any]:
    """A sampled (nested) config -> ``{dotted.path: value}``; with the ``space``, values are
    cast and clamped into their domains (ints for ``int``, HyperOpt's rounding undone)."""
    flat: dict[str, Any] = {}
    for key, value in sampled.items():
        if isinstance(value, dict) and BRANCH_VALUE in value:
            flat[key] = value[BRANCH_VALUE]
            flat.update(flatten({k: v for k, v in value.items() if k != BRANCH_VALUE}))
        else:
            flat[key] = value
    if space is not None:
        _clamp(space, flat)
    return flat


def _clamp(space: Space, flat: dict[str, Any]) -> None:
    # Only the domains on the branches taken: the same key may have other ranges on others.
    for p in space:
        if p.path not in flat:
            continue
        flat[p.path] = p.clamp(flat[p.path])
        for option in p.options:
            if option.value == flat[p.path]:
                _clamp(option.subspace, flat)


__all__ = ["Option", "Param", "Space", "active_params", "all_params", "describe", "flatten",
           "grid_size", "hyperopt_labels", "hyperopt_point", "max_value", "nest_point",
           "parse_space", "searched_paths", "to_hyperopt", "to_ray"]
