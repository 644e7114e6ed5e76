"""Build the Ray Tune experiment (searcher, scheduler, resources, storage, failure policy),
run it, and resume it."""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytuner.config import Experiment
from raytuner.errors import ConfigError, RunError
from raytuner.space import (
    Param,
    hyperopt_labels,
    hyperopt_point,
    max_value,
    nest_point,
    parse_space,
    to_hyperopt,
    to_ray,
)
from raytuner.summary import (
    EXPERIMENT_FILE,
    build_summary,
    load_run_experiment,
    write_summary,
)
from raytuner.yaml_io import dump_yaml, write_text_atomic

log = logging.getLogger("raytuner")


@dataclass
class RunResult:
    """What a finished ``run`` or ``resume`` returns."""

    run_dir: Path
    summary: dict[str, Any]

    @property
    def best(self) -> dict[str, Any] | None:
        return self.summary.get("best")


# ---------------------------------------------------------------------------------------------
# Searchers and schedulers


def _hyperopt_searcher(exp: Experiment, space: list[Param]):
    from ray.tune.search.hyperopt import HyperOptSearch

    class _SeededHyperOptSearch(HyperOptSearch):
        """HyperOptSearch whose seeded points are already in HyperOpt's ``{label: value}``
        form: Ray's own conversion cannot map values inside conditional branches."""

        def _convert_categories_to_indices(self, config) -> None:
            return None

        def _setup_hyperopt(self) -> None:
            super()._setup_hyperopt()
            # HyperOpt marks labels of branches a trial did not take with empty lists; its
            # helper for seeded points leaves them out, which TPE cannot read.
            for trial in self._hpopt_trials.trials:
                for label in labels:
                    trial["misc"]["idxs"].setdefault(label, [])
                    trial["misc"]["vals"].setdefault(label, [])
            self._hpopt_trials.refresh()

    labels = hyperopt_labels(space)

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
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(include_dashboard=False, **kwargs)


def default_max_concurrent(exp: Experiment) -> int:
    """How many trials the cluster can hold at once with this experiment's resources."""
    import ray

    total = ray.cluster_resources()
    fits = [int(total.get("CPU", 1) // exp.resources.cpu)]
    if exp.resources.gpu > 0:
        fits.append(int(total.get("GPU", 0) // exp.resources.gpu))
    return max(1, min(fits))


def prepare_run_dir(storage: str | Path, name: str, *, overwrite: bool) -> Path:
    """Create ``storage/name`` for a new run; refuse to replace an existing run unless asked.

    Checked before Ray starts, so bad storage costs nothing and overwrites nothing.
    """
    storage = Path(storage).expanduser().resolve()
    run_dir = storage / name
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise ConfigError(f"run folder {run_dir} already exists; use `raytuner resume "
                              f"{run_dir}` to continue it, --overwrite to replace it, or "
                              "--name to pick another name")
        shutil.rmtree(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"storage location {storage} is not writable: {exc}") from None
    return run_dir


def _build_tuner(exp: Experiment, run_dir: Path, data, *, restore: bool = False,
                 callbacks: list | None = None, stop=None):
    from ray import tune

    from raytuner.progress import ProgressTable
    from raytuner.space import all_params
    from raytuner.trainable import make_trainable

    space = parse_space(exp.search.space)
    trainable = make_trainable(exp, data)
    if restore:
        return tune.Tuner.restore(str(run_dir), trainable=trainable, resume_errored=True)
    max_concurrent = exp.search.max_concurrent or default_max_concurrent(exp)
    searcher, param_space = build_search(exp, space, max_concurrent)
    params = list(dict.fromkeys(p.path for p in all_params(space)))
    tune_config = tune.TuneConfig(
        metric=exp.search.metric, mode=exp.search.mode, search_alg=searcher,
        scheduler=build_scheduler(exp, space), num_samples=exp.search.num_samples,
        max_concurrent_trials=max_concurrent, reuse_actors=True,
        trial_dirname_creator=_trial_dirname,
    )
    run_config = tune.RunConfig(
        name=run_dir.name, storage_path=str(run_dir.parent),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=exp.checkpoint.keep, checkpoint_score_attribute=exp.search.metric,
            checkpoint_score_order=exp.search.mode),
        failure_config=tune.FailureConfig(max_failures=exp.failure.max_retries),
        callbacks=[ProgressTable(exp.search.metric, exp.search.mode, params)],
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


def _load_shared_data(exp: Experiment):
    from raytuner.data import load_dataset
    from raytuner.trainable import searches_data

    return None if searches_data(exp) else load_dataset(exp.data, exp.seed)


def _fit(exp: Experiment, run_dir: Path, *, address: str | None, restore: bool,
         callbacks: list | None = None, stop=None) -> RunResult:
    start = time.monotonic()
    data = _load_shared_data(exp)
    start_ray(address)
    tuner = _build_tuner(exp, run_dir, data, restore=restore, callbacks=callbacks, stop=stop)
    try:
        tuner.fit()
    except Exception as exc:  # Ray wraps driver-side failures; keep the folder for resume
        raise RunError(f"experiment failed: {exc}; resume with `raytuner resume "
                       f"{run_dir}`") from exc
    summary = build_summary(run_dir, exp, wall_time_s=time.monotonic() - start)
    write_summary(run_dir, summary)
    return RunResult(run_dir, summary)


def run(exp: Experiment, *, storage: str | Path = "runs", name: str | None = None,
        address: str | None = None, overwrite: bool = False,
        callbacks: list | None = None, stop=None) -> RunResult:
    """Run the experiment; everything lands in ``<storage>/<name>``.

    ``callbacks`` (extra ``ray.tune.Callback`` s) and ``stop`` (a ``ray.tune.Stopper``, dict or
    function, as in ``RunConfig.stop``) are optional driver-side hooks for programmatic use.
    """
    name = name or exp.name
    run_dir = prepare_run_dir(storage, name, overwrite=overwrite)
    write_text_atomic(run_dir / EXPERIMENT_FILE, dump_yaml(exp.to_dict()))
    return _fit(exp, run_dir, address=address, restore=False, callbacks=callbacks, stop=stop)


def resume(run_dir: str | Path, *, address: str | None = None) -> RunResult:
    """Continue an interrupted run from its folder (Ray Tune's restore): finished trials keep
    their results, unfinished ones continue from their last checkpoint."""
    from ray import tune

    run_dir = Path(run_dir).expanduser().resolve()
    exp = load_run_experiment(run_dir)
    if not tune.Tuner.can_restore(str(run_dir)):
        raise ConfigError("no Ray Tune experiment state to resume from", source=str(run_dir))
    return _fit(exp, run_dir, address=address, restore=True)
