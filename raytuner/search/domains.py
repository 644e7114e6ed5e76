"""The typed domains of a search space; each translates itself for Ray Tune, HyperOpt and Optuna.

A domain is one searched key (``train.lr``) with its values: a continuous :class:`Range`
(``uniform``, ``loguniform``), an :class:`IntRange` (``int``) or :class:`Options` (``choice``,
``grid``), whose values may open a conditional branch (:class:`Option.subspace`). A leaf: it
imports nothing of raytuner but its errors, and Ray, HyperOpt and Optuna only when translating
(they are heavy, and validating an experiment must not load Ray).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from raytuner.errors import ConfigError

#: key of a sampled branch's own value: ``{"__value__": "sgd", "train.momentum": 0.9}``
BRANCH_VALUE = "__value__"

#: the domain kinds of the YAML and the modifiers each accepts
KINDS = ("uniform", "loguniform", "int", "choice", "grid")
MODIFIERS = {"uniform": {"step"}, "loguniform": {"step"}, "int": {"step", "log"},
             "choice": set(), "grid": set()}

#: a translation of a whole (sub)space, passed to the domains that hold branches
Translate = Callable[[list["Param"]], dict[str, Any]]

#: the values Optuna's categorical distribution takes as they are (others go by index)
OPTUNA_PLAIN = (type(None), bool, int, float, str)


@dataclass
class Option:
    """One value of a choice or grid; ``subspace`` exists only when this value is chosen."""

    value: Any
    subspace: list[Param] = field(default_factory=list)

    def branch(self, translate: Translate | None) -> Any:
        """The plain value, or ``{"__value__": value, **translated subspace}``."""
        if not self.subspace or translate is None:
            return self.value
        return {BRANCH_VALUE: self.value, **translate(self.subspace)}


@dataclass
class Param:
    """One searched key: its dotted path and the YAML kind of its domain."""

    path: str
    kind: str

    @property
    def options(self) -> list[Option]:
        """The values of a finite domain with branches (none for ranges)."""
        return []

    @property
    def log(self) -> bool:
        return False

    def representative_values(self) -> list[Any]:
        """Values that must all be valid settings of the experiment (bounds or options)."""
        raise NotImplementedError

    def finite_values(self) -> list[Any] | None:
        """Every value of a finite domain (for grid search), or None for a continuous one."""
        raise NotImplementedError

    def to_ray(self, *, grid: bool, translate: Translate) -> Any:
        """The Ray Tune domain (``grid``: every value, for grid search)."""
        raise NotImplementedError

    def to_hyperopt(self, label: str, translate: Callable[[list[Param], str], dict]) -> Any:
        """The HyperOpt expression labelled ``label``."""
        raise NotImplementedError

    def hyperopt_value(self, value: Any) -> Any:
        """A value as HyperOpt records it (an option's index, a number as is)."""
        return value

    def to_optuna(self) -> Any:
        """The Optuna distribution (``optuna.distributions``) a trial suggests from."""
        raise NotImplementedError

    def from_optuna(self, value: Any) -> Any:
        """The setting an Optuna value of :meth:`to_optuna` stands for."""
        return value

    def optuna_value(self, value: Any) -> Any:
        """A setting as Optuna records it (the inverse of :meth:`from_optuna`)."""
        return value

    def check_value(self, value: Any, where: str) -> Option | None:
        """ConfigError unless ``value`` lies in the domain; the option it picks, if any."""
        raise NotImplementedError

    def clamp(self, value: Any) -> Any:
        """A sampled value cast and clamped into the domain (HyperOpt's rounding may step past
        a bound by a hair)."""
        return value


@dataclass
class _Bounded(Param):
    low: float = 0.0
    high: float = 1.0
    step: float | None = None
    is_log: bool = False

    @property
    def log(self) -> bool:
        return self.is_log

    def check_value(self, value: Any, where: str) -> Option | None:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not self.low <= value <= self.high):
            raise ConfigError(f"{self.path}={value!r} is outside [{self.low:g}, {self.high:g}]",
                              path=where)
        return None

    def clamp(self, value: Any) -> Any:
        return type(value)(min(max(value, self.low), self.high))


@dataclass
class Range(_Bounded):
    """``uniform`` or ``loguniform`` floats in ``[low, high]``, optionally quantized."""

    def representative_values(self) -> list[Any]:
        return [self.low, self.high]

    def finite_values(self) -> list[Any] | None:
        return None

    def to_ray(self, *, grid: bool, translate: Translate) -> Any:
        from ray import tune  # deferred: Ray is heavy and only a run needs it

        if self.kind == "uniform":
            return (tune.quniform(self.low, self.high, self.step) if self.step
                    else tune.uniform(self.low, self.high))
        return (tune.qloguniform(self.low, self.high, self.step) if self.step
                else tune.loguniform(self.low, self.high))

    def to_hyperopt(self, label: str, translate: Callable[[list[Param], str], dict]) -> Any:
        from hyperopt import hp  # deferred with Ray: only a HyperOpt search needs it

        if self.kind == "uniform":
            return (hp.quniform(label, self.low, self.high, self.step) if self.step
                    else hp.uniform(label, self.low, self.high))
        lo, hi = math.log(self.low), math.log(self.high)
        return (hp.qloguniform(label, lo, hi, self.step) if self.step
                else hp.loguniform(label, lo, hi))

    def to_optuna(self) -> Any:
        from optuna.distributions import FloatDistribution  # deferred: only a run needs it

        if self.log:  # Optuna has no stepped log scale: from_optuna rounds (Ray's qloguniform)
            return FloatDistribution(self.low, self.high, log=True)
        if not self.step:
            return FloatDistribution(self.low, self.high)
        # Optuna wants high on the step grid (it warns and cuts it at every trial otherwise),
        # which it checks in decimal arithmetic: so is high cut here.
        low, high, step = (Decimal(str(v)) for v in (self.low, self.high, self.step))
        top = float((high - low) // step * step + low)
        return FloatDistribution(self.low, top, step=self.step)

    def from_optuna(self, value: Any) -> Any:
        if self.log and self.step:
            return self.clamp(float(round(value / self.step) * self.step))
        return float(value)

    def optuna_value(self, value: Any) -> Any:
        return float(value)


@dataclass
class IntRange(_Bounded):
    """``int``: whole numbers from ``low`` to ``high`` inclusive, optionally stepped or log."""

    def representative_values(self) -> list[Any]:
        return [int(self.low), int(self.high)]

    def finite_values(self) -> list[Any] | None:
        return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))

    def to_ray(self, *, grid: bool, translate: Translate) -> Any:
        from ray import tune  # deferred: Ray is heavy and only a run needs it

        if grid:
            return tune.grid_search(self.finite_values())
        if self.log:
            return tune.lograndint(int(self.low), int(self.high) + 1)
        if self.step:
            return tune.qrandint(int(self.low), int(self.high), int(self.step))
        return tune.randint(int(self.low), int(self.high) + 1)

    def to_hyperopt(self, label: str, translate: Callable[[list[Param], str], dict]) -> Any:
        from hyperopt import hp  # deferred with Ray: only a HyperOpt search needs it

        if self.log:
            return hp.qloguniform(label, math.log(self.low), math.log(self.high + 0.5),
                                  self.step or 1)
        return hp.quniform(label, self.low, self.high, self.step or 1)

    def _top(self) -> int:
        """The largest value on the step grid."""
        low, high, step = int(self.low), int(self.high), int(self.step or 1)
        return high - (high - low) % step

    def to_optuna(self) -> Any:
        from optuna.distributions import IntDistribution  # deferred: only a run needs it

        if self.log:  # Optuna has no stepped log scale: from_optuna rounds to the step
            return IntDistribution(int(self.low), int(self.high), log=True)
        return IntDistribution(int(self.low), self._top(), step=int(self.step or 1))

    def from_optuna(self, value: Any) -> Any:
        step = int(self.step or 1)
        if self.log and step > 1:
            low = int(self.low)
            return min(low + int(round((value - low) / step)) * step, self._top())
        return int(value)

    def optuna_value(self, value: Any) -> Any:
        return int(value)

    def clamp(self, value: Any) -> Any:
        return super().clamp(int(round(value)))


@dataclass
class Options(Param):
    """``choice`` (one value per trial) or ``grid`` (every value: random and grid search)."""

    values: list[Option] = field(default_factory=list)

    @property
    def options(self) -> list[Option]:
        return self.values

    def representative_values(self) -> list[Any]:
        return [option.value for option in self.values]

    def finite_values(self) -> list[Any] | None:
        return self.representative_values()

    def to_ray(self, *, grid: bool, translate: Translate) -> Any:
        from ray import tune  # deferred: Ray is heavy and only a run needs it

        branches = [option.branch(translate) for option in self.values]
        if grid or self.kind == "grid":
            return tune.grid_search(branches)
        return tune.choice(branches)

    def to_hyperopt(self, label: str, translate: Callable[[list[Param], str], dict]) -> Any:
        from hyperopt import hp  # deferred with Ray: only a HyperOpt search needs it

        return hp.choice(label, [
            option.branch(lambda sub, o=option: translate(sub, f"{label}={o.value}/"))
            for option in self.values])

    def hyperopt_value(self, value: Any) -> Any:
        return self.representative_values().index(value)

    def _optuna_by_index(self) -> bool:
        # Optuna's categorical choices must be None, bool, int, float or str
        return not all(isinstance(o.value, OPTUNA_PLAIN) for o in self.values)

    def to_optuna(self) -> Any:
        from optuna.distributions import CategoricalDistribution  # deferred: only a run

        if self._optuna_by_index():
            return CategoricalDistribution(list(range(len(self.values))))
        return CategoricalDistribution(self.representative_values())

    def optuna_option(self, value: Any) -> Option:
        """The option an Optuna value of :meth:`to_optuna` picks."""
        if self._optuna_by_index():
            return self.values[value]
        return self.values[self.representative_values().index(value)]

    def from_optuna(self, value: Any) -> Any:
        return self.optuna_option(value).value

    def optuna_value(self, value: Any) -> Any:
        return self.representative_values().index(value) if self._optuna_by_index() else value

    def check_value(self, value: Any, where: str) -> Option | None:
        values = self.representative_values()
        if value not in values:
            raise ConfigError(f"{self.path}={value!r} is not one of {values}", path=where)
        return self.values[values.index(value)]
