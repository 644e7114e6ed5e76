"""``raytuner run`` and ``raytuner resume``: from a validated experiment to a finished run
folder and its summary.

Everything before :func:`_fit` is checked without Ray: bad input, absent data, a warm start
that is not a run, resources this machine lacks, storage that cannot be written. Ray (and the
modules that build the Tuner, which import it) loads only once those checks passed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytuner.after.compress import compress_run
from raytuner.after.summary import build_summary, write_summary
from raytuner.cluster.machine import check_local_resources
from raytuner.config.schema import Experiment
from raytuner.data import DataBundle, check_data_ready, load_dataset
from raytuner.errors import ConfigError, RunError
from raytuner.files import dump_yaml, write_text_atomic
from raytuner.runs import storage
from raytuner.runs.folder import EXPERIMENT_FILE, SUMMARY_FILE, load_run_experiment
from raytuner.runs.interrupt import interrupted_error, watch_interrupt
from raytuner.runs.lock import hold_existing_run, hold_new_run
from raytuner.runs.repro import write_record
from raytuner.runs.rundir import prepare_run_dir, refuse_existing_local_run, start_or_resume
from raytuner.runs.smoke import smoke_experiment
from raytuner.search.space import searched_paths
from raytuner.search.warmstart import check_warm_start
from raytuner.trial.loop import check_data_fits


@dataclass
class RunResult:
    """What a finished ``run`` or ``resume`` returns."""

    run_dir: Path
    summary: dict[str, Any]

    @property
    def best(self) -> dict[str, Any] | None:
        """The summary record of the best trial (None when no trial reported a result)."""
        return self.summary.get("best")


def searches_data(exp: Experiment) -> bool:
    """True when a searched key changes the data, so each trial must load its own."""
    return any(path.startswith("data.") for path in searched_paths(exp.space))


def _load_shared_data(exp: Experiment) -> DataBundle | None:
    """The data every trial shares (loaded once, here), or None when a trial's sampled values
    change the data and each trial loads its own."""
    if searches_data(exp):
        return None
    data = load_dataset(exp.data, exp.seed)
    check_data_fits(exp, data)  # refuse what this data set cannot do before Ray starts
    return data


def _fit(exp: Experiment, run_dir: Path, *, address: str | None, restore: bool,
         shared_storage: bool | None = None, callbacks: list | None = None,
         stop: Any = None) -> RunResult:
    # Deferred on purpose: these import Ray, which must not load before the checks above pass.
    from raytuner.runs.ray_start import TUNER_MODULES, start_ray

    start = time.monotonic()
    data = _load_shared_data(exp)
    started_local = start_ray(address, exp, meanwhile=TUNER_MODULES)
    from raytuner import _ray_compat  # loaded while Ray started: see raytuner.runs.ray_start
    from raytuner.cluster.capacity import check_cluster
    from raytuner.runs import quiet
    from raytuner.runs.display import close_displays
    from raytuner.runs.tuner import build_tuner, fit

    # Before any trial: storage every node reaches, resources some node can provide.
    check_cluster(exp.resources.cpu, exp.resources.gpu, run_dir,
                  shared=storage.default_shared(shared_storage), fresh=not restore)
    storage.push(run_dir, EXPERIMENT_FILE)
    tuner = build_tuner(exp, run_dir, data, restore=restore, callbacks=callbacks, stop=stop)
    try:
        with watch_interrupt() as interrupt, quiet.driver_log(run_dir):
            grid = fit(tuner)
    except KeyboardInterrupt:  # a second Ctrl-C: Tune skipped its last save
        raise interrupted_error(run_dir) from None
    except Exception as exc:  # Ray wraps driver-side failures; keep the folder for resume
        raise RunError(f"experiment failed: {exc}; resume with `raytuner resume "
                       f"{run_dir}`") from exc
    finally:
        close_displays()  # a failed or interrupted run leaves its last frame, then the error
        if started_local:
            quiet.keep_session_logs(_ray_compat.session_logs_dir(), run_dir)
    if interrupt.interrupted:  # Tune stopped gracefully on Ctrl-C: unfinished, resumable
        raise interrupted_error(run_dir)
    storage.pull(run_dir)  # a URI run: its result files into the mirror
    summary = build_summary(run_dir, exp, wall_time_s=time.monotonic() - start,
                            analysis=_ray_compat.experiment_analysis(grid))
    summary = storage.storage_summary(run_dir, summary)
    try:
        write_summary(run_dir, summary)
    except OSError as exc:  # a full disk: say where, and that nothing is lost
        raise RunError(f"cannot write {run_dir / SUMMARY_FILE}: {exc.strerror or exc}; the "
                       "trials' checkpoints are kept: free some space, then continue with "
                       f"`raytuner resume {run_dir}`") from None
    storage.push(run_dir, SUMMARY_FILE)
    if exp.search.multi_objective:  # its curve needs the final reference point
        from raytuner.after.front import run_hypervolume_curve
        from raytuner.tensorboard.pareto import write_hypervolume

        write_hypervolume(run_dir, run_hypervolume_curve(summary))
    if exp.compress is not None:
        compress_run(run_dir, exp.compress)
    return RunResult(run_dir, summary)


def run(exp: Experiment, *, storage: str | Path | None = None, name: str | None = None,
        address: str | None = None, overwrite: bool = False, smoke: bool = False,
        shared_storage: bool | None = None, resume_existing: bool = False,
        callbacks: list | None = None, stop: Any = None) -> RunResult:
    """Run the experiment; everything lands in ``<storage>/<name>``.

    ``storage``: a folder or a URI (s3://, gs://, file://); default ``$RAYTUNER_STORAGE``, else
    ``runs``. ``shared_storage``: a local folder is a mount every node shares (default
    ``$RAYTUNER_SHARED_STORAGE``); without it a local folder is refused on a multi-node cluster.
    ``smoke=True`` runs :func:`raytuner.runs.smoke.smoke_experiment` of it instead (two trials,
    one epoch, a small subset, synthetic data when the real set is absent).
    ``resume_existing``: when that run folder already holds a run of the same experiment,
    continue it (as ``resume`` does) instead of refusing; a new run otherwise.
    ``callbacks`` (extra ``ray.tune.Callback`` s) and ``stop`` (a ``ray.tune.Stopper``, dict or
    function, as in ``RunConfig.stop``) are optional driver-side hooks for programmatic use.
    """
    if smoke:
        exp = smoke_experiment(exp)
    check_data_ready(exp.data)  # absent files with download off: fail before writing anything
    name = name or exp.name
    check_warm_start(exp)
    check_local_resources(exp, address)
    if not (overwrite or resume_existing):
        refuse_existing_local_run(storage, name)
    # One driver per run folder, held from before --overwrite deletes it to the run's end.
    with hold_new_run(storage, name):
        return _run_locked(exp, storage, name, address=address, overwrite=overwrite,
                           shared_storage=shared_storage, resume_existing=resume_existing,
                           callbacks=callbacks, stop=stop)


def _run_locked(exp: Experiment, storage: str | Path | None, name: str, *,
                address: str | None, overwrite: bool, shared_storage: bool | None,
                resume_existing: bool, callbacks: list | None, stop: Any) -> RunResult:
    if resume_existing:
        existing, overwrite = start_or_resume(exp, storage, name, overwrite=overwrite)
        if existing is not None:
            return _resume_locked(existing, address=address, shared_storage=shared_storage)
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
    with hold_existing_run(run_dir):  # one driver per run folder
        return _resume_locked(run_dir, address=address, shared_storage=shared_storage)


def _resume_locked(run_dir: str | Path, *, address: str | None,
                   shared_storage: bool | None) -> RunResult:
    # Deferred on purpose: Ray loads only once the folder is known to be a run.
    from ray import tune

    run_dir = storage.localize_run_dir(run_dir)  # a URI run folder: its refreshed local mirror
    exp = load_run_experiment(run_dir, user_code=True)  # the trials build the user's model
    check_local_resources(exp, address, source=str(run_dir / EXPERIMENT_FILE))
    if not tune.Tuner.can_restore(storage.ray_run_path(run_dir)):
        raise ConfigError("no Ray Tune experiment state to resume from", source=str(run_dir))
    write_record(run_dir, exp)
    try:
        return _fit(exp, run_dir, address=address, restore=True, shared_storage=shared_storage)
    except KeyboardInterrupt:  # Ctrl-C before Tune took over (loading data, starting Ray)
        raise interrupted_error(run_dir) from None
