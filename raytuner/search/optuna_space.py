"""The search space translated for Optuna: a define-by-run function, and points in Optuna's
names.

Each trial walks the space and suggests one domain after the other (each domain translates
itself: :meth:`raytuner.search.domains.Param.to_optuna`), so a key inside a conditional branch
is suggested only on trials whose option opens that branch. A top-level key is an Optuna
parameter named by its dotted path; a key inside a branch is prefixed by the branch it lies on
(``train.optimizer=sgd:train.momentum``), so that the same key on two branches, or at two
depths, are two parameters that never collide. The trial's config is built during the same
walk, nested exactly as Ray's variant generator nests a random search's config (a branch as
``{"__value__": value, **its keys}``). Imports Optuna only when a trial suggests.
"""

from __future__ import annotations

from typing import Any

from raytuner.errors import ConfigError
from raytuner.search.domains import Option, Param

#: the key under which the define-by-run space hands its config to Ray (see
#: :class:`OptunaSpace`); Ray splits keys on "/", this one has none
CONFIG_KEY = "__raytuner_config__"


class OptunaSpace:
    """The define-by-run search space Ray's ``OptunaSearch`` calls with each Optuna trial.

    Ray merges what it returns with every value suggested (keyed by Optuna name) and splits
    the keys on "/": the trial's config therefore travels as one constant under
    :data:`CONFIG_KEY`, which ``ConfigOptunaSearch.suggest`` hands to Tune. A class, not a
    closure: Tune pickles the searcher with it.
    """

    def __init__(self, space: list[Param]):
        self.space = space

    def __call__(self, trial: Any) -> dict[str, Any]:
        return {CONFIG_KEY: sample(trial, self.space)}


def sample(trial: Any, space: list[Param], prefix: str = "") -> dict[str, Any]:
    """Suggest ``space`` (params named ``prefix`` + dotted path) on an Optuna trial; the config
    nested as Ray's variant generator nests it."""
    config: dict[str, Any] = {}
    for param in space:
        name = prefix + param.path
        value = suggest(trial, name, param.to_optuna())
        if param.options:
            option = param.optuna_option(value)
            config[param.path] = option.branch(
                lambda sub, n=name, o=option, p=param: sample(trial, sub, branch_prefix(n, p, o)))
        else:
            config[param.path] = param.from_optuna(value)
    return config


def suggest(trial: Any, name: str, distribution: Any) -> Any:
    """``trial.suggest_*`` of ``distribution`` (Optuna's trial has no public suggest of a
    distribution object)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, list(distribution.choices))
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high,
                                 step=distribution.step, log=distribution.log)
    return trial.suggest_float(name, distribution.low, distribution.high,
                               step=distribution.step, log=distribution.log)


def branch_prefix(name: str, param: Param, option: Option) -> str:
    """The name prefix of the params on ``option``'s branch of ``param`` (Optuna name
    ``name``): ``name=value:``, or ``name#index:`` where the values' text is not plain, not
    unique or holds a "/" (Ray splits names there)."""
    index = next(i for i, o in enumerate(param.options) if o is option)
    texts = [str(o.value) for o in param.options]
    plain = (all(isinstance(o.value, (str, int, float, bool)) for o in param.options)
             and len(set(texts)) == len(texts) and not any("/" in t for t in texts))
    return f"{name}={texts[index]}:" if plain else f"{name}#{index}:"


def optuna_point(space: list[Param], flat: dict[str, Any], *, where: str,
                 prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """A ``{dotted.path: value}`` point as Optuna names it: ``{name: (value as Optuna records
    it, distribution)}`` of the params on the branches it takes."""
    out: dict[str, tuple[Any, Any]] = {}
    for param in space:
        name = prefix + param.path
        if param.path not in flat:
            raise ConfigError(f"missing a value for {param.path!r} (every searched key on the "
                              "chosen branches needs one)", path=where)
        value = flat[param.path]
        option = param.check_value(value, where)
        out[name] = (param.optuna_value(value), param.to_optuna())
        if option is not None:
            out.update(optuna_point(option.subspace, flat, where=where,
                                    prefix=branch_prefix(name, param, option)))
    return out
