"""Checks across sections of a validated experiment: settings that cannot all hold at once.

Part of the one validation pass (:func:`raytuner.config.validate.validate_experiment`), so
``raytuner validate`` reports them, and each error names the key to change. They raise before
Ray starts and before anything is written: a typo costs a second, not a cluster allocation.
"""

from __future__ import annotations

from raytuner.config.metrics import check_mode
from raytuner.config.schema import Experiment
from raytuner.data.traits import declared_trait
from raytuner.errors import ConfigError
from raytuner.search.schedulers import SCHEDULERS
from raytuner.search.searchers import SEARCHERS
from raytuner.search.space import Space, max_value, searched_paths
from raytuner.trial.augment import check_augment


def check_train_options(exp: Experiment) -> None:
    """ConfigError for training settings that contradict the data set's declaration or the
    search: augmentation a built-in set does not allow, a plateau schedule watching a fold
    spread. Run again for every trial whose sampled values change ``train`` or ``data``."""
    check_augment(exp.train.augment, declared_trait(exp.data.name, "augmentations"),
                  exp.data.name)
    schedule = exp.train.lr_schedule
    if (schedule.name == "plateau" and schedule.monitor == "search"
            and exp.search.metric.endswith("_std")):
        raise ConfigError(f"a plateau schedule cannot watch the fold spread "
                          f"{exp.search.metric!r} (each fold trains alone); use monitor: "
                          "val_loss or a mean metric as search.metric",
                          path="train.lr_schedule.monitor")


def check_consistency(exp: Experiment, space: Space) -> None:
    """Refuse settings that cannot all hold at once; each error names the key to change."""
    check_mode(exp.search.metric, exp.search.mode)
    _check_multi_objective(exp)
    _check_sampler(exp)
    longest = int(max_value(space, "train.epochs", exp.train.epochs))
    scheduler = exp.search.scheduler
    factory = SCHEDULERS.get(scheduler.name).factory
    factory.check(scheduler, longest)
    factory.check_search(exp.search, space, longest=longest,
                         learns=SEARCHERS.get(exp.search.algorithm).factory.learns_from_results)
    _check_checkpoint_every(exp)
    _check_nesterov(exp, set(searched_paths(space)))
    gpu = exp.resources.gpu
    if gpu > 1 and not float(gpu).is_integer():
        raise ConfigError(f"{gpu:g} GPUs per trial: Ray shares a GPU only in fractions up to 1; "
                          "use a whole number above 1 (e.g. 2) or a fraction such as 0.5",
                          path="resources.gpu")


def _check_checkpoint_every(exp: Experiment) -> None:
    every = exp.checkpoint.every
    name = exp.search.scheduler.name
    factory = SCHEDULERS.get(name).factory
    if every > 1 and (factory.restores_trials or factory.population):
        raise ConfigError(f"every {every}: scheduler {name!r} pauses or restarts trials from "
                          "their latest checkpoint, which must be the epoch they stopped at; "
                          "use every: 1 (the default) with this scheduler",
                          path="checkpoint.every")


def _check_nesterov(exp: Experiment, searched: set[str]) -> None:
    train = exp.train
    if not train.nesterov:
        return
    # A searched optimizer or momentum may make nesterov right on some trials: not refused.
    if train.optimizer != "sgd" and "train.optimizer" not in searched:
        raise ConfigError(f"nesterov applies to optimizer sgd only (optimizer is "
                          f"{train.optimizer!r}); remove it or use optimizer: sgd",
                          path="train.nesterov")
    if train.momentum == 0 and "train.momentum" not in searched:
        raise ConfigError("nesterov needs momentum > 0 (momentum is 0); set train.momentum "
                          "or remove nesterov", path="train.nesterov")


def _check_multi_objective(exp: Experiment) -> None:
    """Several objectives need a search algorithm and a scheduler that can rank by several
    metrics; the errors list those that can."""
    if not exp.search.multi_objective:
        return
    for key, registry in (("search.algorithm", SEARCHERS),
                          ("search.scheduler.name", SCHEDULERS)):
        name = exp.search.algorithm if key == "search.algorithm" else exp.search.scheduler.name
        if not registry.get(name).factory.multi_objective:
            able = [n for n in registry.names() if registry.get(n).factory.multi_objective]
            does = "searches for" if key == "search.algorithm" else "stops trials by"
            raise ConfigError(f"{name!r} {does} one metric, and search.objectives lists "
                              f"{len(exp.search.goals)}; use one of: {', '.join(able)}",
                              path=key)
    if exp.search.warm_start and SEARCHERS.get(exp.search.algorithm).factory \
            .learns_from_results:
        raise ConfigError(f"a warm start seeds the searcher with results of one metric, and "
                          f"search.objectives lists {len(exp.search.goals)}; drop warm_start "
                          "or search by one metric", path="search.warm_start")


def _check_sampler(exp: Experiment) -> None:
    search = exp.search
    if search.sampler != "tpe" and search.algorithm != "optuna":
        raise ConfigError(f"sampler {search.sampler!r} is an Optuna sampler (algorithm is "
                          f"{search.algorithm!r}); use algorithm: optuna, or drop sampler",
                          path="search.sampler")
