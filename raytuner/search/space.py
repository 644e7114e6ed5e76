"""The declarative search space and its translations for Ray Tune and HyperOpt.

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

A sampled trial config is nested (a branch is a dict with ``__value__``); :func:`flatten`
turns it into ``{dotted.path: value}`` for :func:`raytuner.config.with_params`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from raytuner.errors import ConfigError

BRANCH_VALUE = "__value__"
KINDS = ("uniform", "loguniform", "int", "choice", "grid")
_MODIFIERS = {"uniform": {"step"}, "loguniform": {"step"}, "int": {"step", "log"},
              "choice": set(), "grid": set()}
SEARCHABLE_SECTIONS = ("data", "model", "train")


@dataclass
class Option:
    """One value of a choice or grid; ``subspace`` exists only when this value is chosen."""

    value: Any
    subspace: list[Param] = field(default_factory=list)


@dataclass
class Param:
    """One searched key: its path, kind and bounds or options."""

    path: str
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    options: list[Option] = field(default_factory=list)

    @property
    def has_branches(self) -> bool:
        return any(option.subspace for option in self.options)

    def representative_values(self) -> list[Any]:
        """Values that must all be valid settings of the experiment (bounds or options)."""
        if self.kind in ("choice", "grid"):
            return [option.value for option in self.options]
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [self.low, self.high]

    def finite_values(self) -> list[Any] | None:
        """Every value of a finite domain (for grid search), or None for a continuous one."""
        if self.kind in ("choice", "grid"):
            return [option.value for option in self.options]
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        return None


def all_params(space: list[Param]) -> list[Param]:
    """Every param, nested ones included, depth first."""
    out: list[Param] = []
    for param in space:
        out.append(param)
        for option in param.options:
            out.extend(all_params(option.subspace))
    return out


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_space(raw: dict[str, Any], *, path: str = "search.space") -> list[Param]:
    """Parse the YAML mapping of ``search.space`` into :class:`Param` s."""
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
    extra = set(spec) - {kind} - _MODIFIERS[kind]
    if extra:
        allowed = ", ".join(sorted(_MODIFIERS[kind])) or "none"
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
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0:
            raise ConfigError(f"step must be a positive number, got {step!r}", path=where)
        if kind == "int" and not float(step).is_integer():
            raise ConfigError(f"int step must be a whole number, got {step!r}", path=where)
        if step > high - low:
            raise ConfigError(f"step {step} is larger than the range [{low}, {high}]",
                              path=where)
        # Ray and HyperOpt both quantize to multiples of step, so low must be one.
        if not kind == "loguniform" and abs(low / step - round(low / step)) > 1e-9:
            raise ConfigError(f"low {bounds[0]} must be a multiple of step {step}", path=where)
    return Param(key, kind, low, high, step, log)


def _parse_options(key: str, kind: str, values: Any, where: str) -> Param:
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{kind} takes a non-empty list of values, got {values!r}", path=where)
    options: list[Option] = []
    for i, item in enumerate(values):
        if isinstance(item, dict) and "value" in item and set(item) <= {"value", "space"}:
            sub = parse_space(item.get("space") or {}, path=f"{where}[{i}].space")
            for nested in sub:
                if nested.path == key:
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
    return Param(key, kind, options=options)


# ---------------------------------------------------------------------------------------------
# Checks against the experiment






def max_value(space: list[Param], path: str, default: Any) -> Any:
    """The largest value ``path`` can take in the space (e.g. the longest ``train.epochs``)."""
    values = [v for p in all_params(space) if p.path == path for v in p.representative_values()]
    return max(values or [default])


# ---------------------------------------------------------------------------------------------
# Translations


def to_ray(space: list[Param], *, grid: bool = False) -> dict[str, Any]:
    """Ray Tune ``param_space`` for random search (``grid=False``) or grid search."""
    from ray import tune

    out: dict[str, Any] = {}
    for p in space:
        if grid or p.kind == "grid":
            values = [_branch(o, lambda s: to_ray(s, grid=grid)) for o in _grid_options(p)]
            out[p.path] = tune.grid_search(values)
        elif p.kind == "choice":
            out[p.path] = tune.choice([_branch(o, to_ray) for o in p.options])
        elif p.kind == "int":
            if p.log:
                out[p.path] = tune.lograndint(int(p.low), int(p.high) + 1)
            elif p.step:
                out[p.path] = tune.qrandint(int(p.low), int(p.high), int(p.step))
            else:
                out[p.path] = tune.randint(int(p.low), int(p.high) + 1)
        elif p.kind == "uniform":
            out[p.path] = (tune.quniform(p.low, p.high, p.step) if p.step
                           else tune.uniform(p.low, p.high))
        else:  # loguniform
            out[p.path] = (tune.qloguniform(p.low, p.high, p.step) if p.step
                           else tune.loguniform(p.low, p.high))
    return out


def _grid_options(param: Param) -> list[Option]:
    if param.kind in ("choice", "grid"):
        return param.options
    return [Option(v) for v in param.finite_values() or []]


def _branch(option: Option, translate) -> Any:
    """A plain value, or ``{"__value__": value, **subspace}`` when the option has a subspace."""
    if not option.subspace:
        return option.value
    return {BRANCH_VALUE: option.value, **translate(option.subspace)}


def to_hyperopt(space: list[Param], *, prefix: str = "") -> dict[str, Any]:
    """HyperOpt space; labels are dotted paths, nested ones prefixed by their branch."""
    from hyperopt import hp

    out: dict[str, Any] = {}
    for p in space:
        label = prefix + p.path
        if p.kind in ("choice", "grid"):
            out[p.path] = hp.choice(label, [
                _branch(o, lambda s, o=o, label=label: to_hyperopt(s, prefix=f"{label}={o.value}/"))
                for o in p.options])
        elif p.kind == "int":
            if p.log:
                out[p.path] = hp.qloguniform(label, math.log(p.low), math.log(p.high + 0.5),
                                             p.step or 1)
            else:
                out[p.path] = hp.quniform(label, p.low, p.high, p.step or 1)
        elif p.kind == "uniform":
            out[p.path] = (hp.quniform(label, p.low, p.high, p.step) if p.step
                           else hp.uniform(label, p.low, p.high))
        else:
            lo, hi = math.log(p.low), math.log(p.high)
            out[p.path] = (hp.qloguniform(label, lo, hi, p.step) if p.step
                           else hp.loguniform(label, lo, hi))
    return out


def hyperopt_labels(space: list[Param], *, prefix: str = "") -> list[str]:
    """Every HyperOpt label of the space, inactive branches included."""
    labels: list[str] = []
    for p in space:
        label = prefix + p.path
        labels.append(label)
        for o in p.options:
            labels += hyperopt_labels(o.subspace, prefix=f"{label}={o.value}/")
    return labels


def hyperopt_point(space: list[Param], flat: dict[str, Any], *, prefix: str = "") -> dict:
    """A seeded point as HyperOpt wants it: ``{label: value}``, choices as indices."""
    out: dict[str, Any] = {}
    for p in space:
        label = prefix + p.path
        value = flat[p.path]
        if p.kind in ("choice", "grid"):
            index = [o.value for o in p.options].index(value)
            out[label] = index
            out.update(hyperopt_point(p.options[index].subspace, flat,
                                      prefix=f"{label}={value}/"))
        else:
            out[label] = value
    return out


def nest_point(space: list[Param], flat: dict[str, Any], *, where: str) -> dict[str, Any]:
    """Check a seeded ``{dotted.path: value}`` point against the space; return it nested the way
    Ray's variant generator samples configs (branches as ``__value__`` dicts)."""
    if not isinstance(flat, dict):
        raise ConfigError(f"expected a mapping of searched paths to values, got {flat!r}",
                          path=where)
    known = {p.path for p in all_params(space)}
    unknown = sorted(set(flat) - known)
    if unknown:
        raise ConfigError(f"{unknown[0]!r} is not a searched key; searched: "
                          f"{', '.join(sorted(known))}", path=where)
    return _nest(space, flat, where)


def _nest(space: list[Param], flat: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in space:
        if p.path not in flat:
            raise ConfigError(f"missing a value for {p.path!r} (every searched key on the "
                              "chosen branches needs one)", path=where)
        value = flat[p.path]
        if p.kind in ("choice", "grid"):
            values = [o.value for o in p.options]
            if value not in values:
                raise ConfigError(f"{p.path}={value!r} is not one of {values}", path=where)
            option = p.options[values.index(value)]
            out[p.path] = _branch(Option(value, []), None) if not option.subspace else {
                BRANCH_VALUE: value, **_nest(option.subspace, flat, where)}
        else:
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not p.low <= value <= p.high):
                raise ConfigError(f"{p.path}={value!r} is outside [{p.low:g}, {p.high:g}]",
                                  path=where)
            out[p.path] = value
    return out


def flatten(sampled: dict[str, Any], space: list[Param] | None = None) -> dict[str, Any]:
    """A sampled (nested) config -> ``{dotted.path: value}``, ints cast for int domains."""
    flat: dict[str, Any] = {}
    for key, value in sampled.items():
        if isinstance(value, dict) and BRANCH_VALUE in value:
            flat[key] = value[BRANCH_VALUE]
            flat.update(flatten({k: v for k, v in value.items() if k != BRANCH_VALUE}))
        else:
            flat[key] = value
    if space is not None:
        int_paths = {p.path for p in all_params(space) if p.kind == "int"}
        for key in int_paths & set(flat):
            flat[key] = int(round(flat[key]))
        for p in all_params(space):  # HyperOpt's quniform can round just past a bound
            if p.path in flat and p.low is not None:
                flat[p.path] = type(flat[p.path])(min(max(flat[p.path], p.low), p.high))
    return flat


def grid_size(space: list[Param]) -> int:
    """Number of configurations a grid search over ``space`` enumerates."""
    total = 1
    for p in space:
        total *= sum(grid_size(o.subspace) for o in _grid_options(p))
    return total


def describe(space: list[Param]) -> dict[str, dict[str, Any]]:
    """``{path: {"kind", "low", "high", "values"}}`` for reports and TensorBoard's HParams."""
    out: dict[str, dict[str, Any]] = {}
    for p in all_params(space):
        entry = out.setdefault(p.path, {"kind": p.kind, "low": p.low, "high": p.high,
                                        "values": []})
        for value in p.finite_values() or []:
            if value not in entry["values"]:
                entry["values"].append(value)
    return out


__all__ = ["Param", "Option", "parse_space", "to_ray", "to_hyperopt", "flatten",
           "nest_point", "hyperopt_point", "describe", "grid_size"]
