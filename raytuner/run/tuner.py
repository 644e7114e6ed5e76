"""Build the Ray Tune experiment: searcher, scheduler, resources, storage, failure policy,
callbacks; and start or join Ray."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from raytuner.config.schema import Experiment
from raytuner.search.space import (
    Param,
    hyperopt_labels,
    hyperopt_point,
    max_value,
    nest_point,
    parse_space,
    to_hyperopt,
    to_ray,
)

log = logging.getLogger("raytuner")




# ---------------------------------------------------------------------------------------------
# Searchers and schedulers


def _hyperopt_searcher(exp: Experiment, space: list[Param]):
    from ray.tune.search.hyperopt import HyperOptSearch

    from raytuner.search.warmstart import seed_hyperopt_trials, warm_points

    class _SeededHyperOptSearch(HyperOptSearch):
        """HyperOptSearch whose seeded points are already in HyperOpt's ``{label: value}``
        form: Ray's own conversion cannot map values inside conditional branches."""

        def _convert_categories_to_indices(self, config) -> None:
            return None

        def _setup_hyperopt(self) -> None:
            super()._setup_hyperopt()
            seed_hyperopt_trials(self._hpopt_trials, space, warm, exp.search.mode, labels)
            # HyperOpt marks labels of branches a trial did not take with empty lists; its
            # helper for seeded points leaves them out, which TPE cannot read.
            for trial in self._hpopt_trials.trials:
                for label in labels:
                    trial["misc"]["idxs"].setdefault(label, [])
                    trial["misc"]["vals"].setdefault(label, [])
            self._hpopt_trials.refresh()

    labels = hyperopt_labels(space)
    warm = warm_points(exp, space) if exp.search.warm_start else []

    points = [hyperopt_point(space, p) for p in exp.search.points_to_evaluate]
    return _SeededHyperOptSearch(
        space=to_hyperopt(space), metric=exp.search.metric, mode=exp.search.mode,
        points_to_evaluate=points or None, n_initial_points=exp.search.n_initial_points,
        random_state_seed=exp.seed,
    )


def build_search(exp: Experiment, space: list[Param], max_concurrent: int = 0
                 ) -> tuple[Any, dict[str, Any]]:
    """(search algorithm, Ray param_space) for ``search.algorithm``."""
    from ray.tune.search import BasicVariantGenerator

    algorithm = exp.search.algorithm
    if algorithm == "hyperopt" and space:
        return _hyperopt_searcher(exp, space), {}
    # HyperOpt with nothing to search degenerates to repeating the base config: random does it.
    points = [nest_point(space, p, where=f"search.points_to_evaluate[{i}]")
              for i, p in enumerate(exp.search.points_to_evaluate)]
    # BasicVariantGenerator is not a Searcher: Tune ignores max_concurrent_trials for it, so
    # the limit is passed here.
    searcher = BasicVariantGenerator(points_to_evaluate=points or None, random_state=exp.seed,
                                     max_concurrent=max_concurrent)
    return searcher, to_ray(space, grid=(algorithm == "grid"))


def max_epochs(exp: Experiment, space: list[Param]) -> int:
    """The most epochs any trial can train (``train.epochs`` may itself be searched)."""
    return int(max_value(space, "train.epochs", exp.train.epochs))


def build_scheduler(exp: Experiment, space: list[Param]):
    """The trial scheduler for ``search.scheduler``; time is counted in epochs."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler

    cfg = exp.search.scheduler
    if cfg.name == "asha":
        return ASHAScheduler(time_attr="epoch", max_t=max_epochs(exp, space),
                             grace_period=min(cfg.grace_period, max_epochs(exp, space)),
                             reduction_factor=cfg.reduction_factor, brackets=cfg.brackets)
    if cfg.name == "hyperband":
        return HyperBandScheduler(time_attr="epoch", max_t=max_epochs(exp, space),
                                  reduction_factor=cfg.reduction_factor)
    return FIFOScheduler()


# ---------------------------------------------------------------------------------------------
# Ray, storage and the run folder


def start_ray(address: str | None) -> None:
    """Connect to ``address`` or start a local Ray with no dashboard (nothing listens on a
    public address unless the user runs a cluster)."""
    import ray

    # Quiet by default: the status table says what matters; these warnings repeat per epoch.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    # RAY_ADDRESS is an explicit choice (`ray job submit` sets it for the job's driver).
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, **kwargs)
    else:
        # "local" always starts a fresh instance: a bare ray.init() would silently join any
        # cluster left running on this machine by `ray start`.
        ray.init(address="local", include_dashboard=False, **kwargs)


def default_max_concurrent(exp: Experiment) -> int:
    """How many trials the cluster can hold at once with this experiment's resources."""
    # Counted node by node (a head with CPUs but no GPU holds no GPU trial), plus what an
    # autoscaler may add: raytuner.capacity.
    from raytuner.cluster.capacity import default_max_concurrent as capacity_default

    return capacity_default(exp.resources.cpu, exp.resources.gpu)




def build_tuner(exp: Experiment, run_dir: Path, data, *, restore: bool = False,
                 callbacks: list | None = None, stop=None):
    from ray import tune

    from raytuner.run.progress import ProgressTable
    from raytuner.run.storage import ray_run_path, ray_storage
    from raytuner.search.space import all_params
    from raytuner.tensorboard.callback import TensorBoardCallback
    from raytuner.trial.trainable import make_trainable

    space = parse_space(exp.search.space)
    trainable = make_trainable(exp, data)
    if restore:
        return tune.Tuner.restore(ray_run_path(run_dir), trainable=trainable,
                                  resume_errored=True)
    max_concurrent = exp.search.max_concurrent or default_max_concurrent(exp)
    searcher, param_space = build_search(exp, space, max_concurrent)
    params = list(dict.fromkeys(p.path for p in all_params(space)))
    tune_config = tune.TuneConfig(
        metric=exp.search.metric, mode=exp.search.mode, search_alg=searcher,
        scheduler=build_scheduler(exp, space), num_samples=exp.search.num_samples,
        max_concurrent_trials=max_concurrent, reuse_actors=True,
        trial_dirname_creator=_trial_dirname,
    )
    storage_path, run_name = ray_storage(run_dir)  # a URI run: its URI, not the mirror
    run_config = tune.RunConfig(
        name=run_name, storage_path=storage_path,
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=exp.checkpoint.keep, checkpoint_score_attribute=exp.search.metric,
            checkpoint_score_order=exp.search.mode),
        failure_config=tune.FailureConfig(max_failures=exp.failure.max_retries),
        callbacks=[ProgressTable(exp.search.metric, exp.search.mode, params),
                   TensorBoardCallback(exp.to_dict())],
        verbose=0,
    )
    # Extra driver-side hooks (benchmarks count epochs and stop at a budget with these).
    if callbacks:
        run_config.callbacks = [*run_config.callbacks, *callbacks]
    if stop is not None:
        run_config.stop = stop
    return tune.Tuner(trainable, param_space=param_space, tune_config=tune_config,
                      run_config=run_config)


def _trial_dirname(trial) -> str:
    return f"trial_{trial.trial_id}"








