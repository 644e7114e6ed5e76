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
from raytuner.interrupt import interrupted_error, watch_interrupt
from raytuner.preflight import check_local_resources, start_or_resume
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
    SUMMARY_FILE,
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

    from raytuner.warmstart import seed_hyperopt_trials, warm_points

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
    from raytuner.capacity import default_max_concurrent as capacity_default

    return capacity_default(exp.resources.cpu, exp.resources.gpu)


def prepare_run_dir(storage: str | Path | None, name: str, *, overwrite: bool) -> Path:
    """Create ``storage/name`` for a new run; refuse to replace an existing run unless asked.

    Checked before Ray starts, so bad storage costs nothing and overwrites nothing.
    """
    # Default location, URIs, free space: raytuner.storage (a URI run is prepared there).
    from raytuner.storage import prepare_storage

    storage, mirror = prepare_storage(storage, name, overwrite=overwrite)
    if mirror is not None:
        return mirror
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
    from raytuner.storage import ray_run_path, ray_storage
    from raytuner.tensorboard.callback import TensorBoardCallback
    from raytuner.trainable import make_trainable

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


def _load_shared_data(exp: Experiment):
    from raytuner.data import load_dataset
    from raytuner.trainable import searches_data

    data = None if searches_data(exp) else load_dataset(exp.data, exp.seed)
    if data is not None:  # refuse what this data set cannot do before Ray starts
        from raytuner.train import check_data_fits

        check_data_fits(exp, data)
    return data


def _fit(exp: Experiment, run_dir: Path, *, address: str | None, restore: bool,
         shared_storage: bool | None = None, callbacks: list | None = None,
         stop=None) -> RunResult:
    from raytuner import storage
    from raytuner.capacity import check_cluster

    start = time.monotonic()
    data = _load_shared_data(exp)
    start_ray(address)
    # Before any trial: storage every node reaches, resources some node can provide.
    check_cluster(exp.resources.cpu, exp.resources.gpu, run_dir,
                  shared=storage.default_shared(shared_storage), fresh=not restore)
    storage.push(run_dir, EXPERIMENT_FILE)
    tuner = _build_tuner(exp, run_dir, data, restore=restore, callbacks=callbacks, stop=stop)
    try:
        with watch_interrupt() as interrupt:
            grid = tuner.fit()
    except KeyboardInterrupt:  # a second Ctrl-C: Tune skipped its last save
        raise interrupted_error(run_dir) from None
    except Exception as exc:  # Ray wraps driver-side failures; keep the folder for resume
        raise RunError(f"experiment failed: {exc}; resume with `raytuner resume "
                       f"{run_dir}`") from exc
    if interrupt.interrupted:  # Tune stopped gracefully on Ctrl-C: unfinished, resumable
        raise interrupted_error(run_dir)
    storage.pull(run_dir)  # a URI run: its result files into the mirror
    # The in-memory analysis has the final trial statuses; Ray keeps it on a private field.
    analysis = getattr(grid, "_experiment_analysis", None)
    summary = build_summary(run_dir, exp, wall_time_s=time.monotonic() - start,
                            analysis=analysis)
    summary = storage.storage_summary(run_dir, summary)
    write_summary(run_dir, summary)
    storage.push(run_dir, SUMMARY_FILE)
    if exp.compress is not None:
        from raytuner.compress import compress_run

        compress_run(run_dir, exp.compress)
    return RunResult(run_dir, summary)


def run(exp: Experiment, *, storage: str | Path | None = None, name: str | None = None,
        address: str | None = None, overwrite: bool = False, smoke: bool = False,
        shared_storage: bool | None = None, resume_existing: bool = False,
        callbacks: list | None = None, stop=None) -> RunResult:
    """Run the experiment; everything lands in ``<storage>/<name>``.

    ``storage``: a folder or a URI (s3://, gs://, file://); default ``$RAYTUNER_STORAGE``, else
    ``runs``. ``shared_storage``: a local folder is a mount every node shares (default
    ``$RAYTUNER_SHARED_STORAGE``); without it a local folder is refused on a multi-node cluster.
    ``smoke=True`` runs :func:`raytuner.smoke.smoke_experiment` of it instead (two trials, one
    epoch, a small subset, synthetic data when the real set is absent).
    ``resume_existing``: when that run folder already holds a run of the same experiment,
    continue it (as ``resume`` does) instead of refusing; a new run otherwise.
    ``callbacks`` (extra ``ray.tune.Callback`` s) and ``stop`` (a ``ray.tune.Stopper``, dict or
    function, as in ``RunConfig.stop``) are optional driver-side hooks for programmatic use.
    """
    if smoke:
        from raytuner.smoke import smoke_experiment

        exp = smoke_experiment(exp)
    from raytuner.data import check_data_ready

    check_data_ready(exp.data)  # absent files with download off: fail before writing anything
    from raytuner.repro import write_record
    from raytuner.warmstart import check_warm_start

    name = name or exp.name
    check_warm_start(exp)
    check_local_resources(exp, address)
    if resume_existing:
        existing, overwrite = start_or_resume(exp, storage, name, overwrite=overwrite)
        if existing is not None:
            return resume(existing, address=address, shared_storage=shared_storage)
    run_dir = prepare_run_dir(storage, name, overwrite=overwrite)
    write_text_atomic(run_dir / EXPERIMENT_FILE, dump_yaml(exp.to_dict()))
    write_record(run_dir, exp)
    try:
        return _fit(exp, run_dir, address=address, restore=False, shared_storage=shared_storage,
                    callbacks=callbacks, stop=stop)
    except KeyboardInterrupt:  # Ctrl-C before Tune took over (loading data, starting Ray)
        raise interrupted_error(run_dir) from None


def resume(run_dir: str | Path, *, address: str | None = None,
           shared_storage: bool | None = None) -> RunResult:
    """Continue an interrupted run from its folder (Ray Tune's restore): finished trials keep
    their results, unfinished ones continue from their last checkpoint."""
    from ray import tune

    from raytuner.storage import localize_run_dir, ray_run_path

    run_dir = localize_run_dir(run_dir)  # a URI run folder: its refreshed local mirror
    exp = load_run_experiment(run_dir)
    check_local_resources(exp, address, source=str(run_dir / EXPERIMENT_FILE))
    if not tune.Tuner.can_restore(ray_run_path(run_dir)):
        raise ConfigError("no Ray Tune experiment state to resume from", source=str(run_dir))
    from raytuner.repro import write_record

    write_record(run_dir, exp)
    try:
        return _fit(exp, run_dir, address=address, restore=True, shared_storage=shared_storage)
    except KeyboardInterrupt:  # Ctrl-C before Tune took over (loading data, starting Ray)
        raise interrupted_error(run_dir) from None
