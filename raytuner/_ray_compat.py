"""Every private Ray API raytuner relies on, in one place.

Each use says why no public API serves. ``tests/test_ray_compat.py`` checks all of them against
the installed Ray, so an upgrade that renames or removes one fails there, loudly and by name,
instead of somewhere deep in a run. Where Ray has a public way, raytuner uses it instead (e.g.
``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS`` plus explicit CSV and JSON logger callbacks, rather
than subclassing ``TBXLoggerCallback`` to keep Tune from adding its TensorBoard logger).

Imported only by code that runs Ray (it imports Ray at its top).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow.fs
import ray
from ray._private import state as ray_state
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.tune.search.hyperopt import HyperOptSearch

ray_logger = logging.getLogger("raytuner.ray_compat")

# ---------------------------------------------------------------------------------------------
# HyperOpt: seeded points inside conditional branches, and warm-start results


class SeededHyperOptSearch(HyperOptSearch):
    """``HyperOptSearch`` whose HyperOpt ``Trials`` are filled by ``seed_trials`` right after
    Ray creates them, and whose seeded points are already in HyperOpt's ``{label: value}`` form.

    Private API: ``_setup_hyperopt`` (where Ray builds the ``Trials`` from
    ``points_to_evaluate``), ``_hpopt_trials`` (that ``Trials`` object) and
    ``_convert_categories_to_indices`` (Ray's conversion of seeded values, which cannot map
    values inside conditional branches). Ray has no public hook to add finished trials (a warm
    start) or to pass seeded points of a conditional space.
    """

    def __init__(self, *, seed_trials: Callable[[Any], None], **kwargs: Any):
        # Set before Ray's __init__, which calls _setup_hyperopt when given a space.
        self._seed_trials = seed_trials
        super().__init__(**kwargs)

    def _convert_categories_to_indices(self, config: dict) -> None:
        return None  # the points are indices already (raytuner.search.space.hyperopt_point)

    def _setup_hyperopt(self) -> None:
        super()._setup_hyperopt()
        self._seed_trials(self._hpopt_trials)
        self._hpopt_trials.refresh()


# ---------------------------------------------------------------------------------------------
# Tune's results


def experiment_analysis(result_grid: Any) -> Any | None:
    """The in-memory ``ExperimentAnalysis`` of a finished ``Tuner.fit()``, or None.

    Private API: ``ResultGrid._experiment_analysis``. The public way, ``ExperimentAnalysis``
    read from the run folder, can lag the final trial statuses by one snapshot of the
    experiment state; the summary needs the statuses Tune ended with.
    """
    return getattr(result_grid, "_experiment_analysis", None)


# ---------------------------------------------------------------------------------------------
# The connected cluster


def autoscaler_node_groups() -> list[tuple[str, dict[str, float], int | None]] | None:
    """``(name, resources, max count or None)`` of the node groups Autoscaler v2 (e.g.
    KubeRay) publishes in the GCS; None when there are none or they cannot be read.

    Private API: ``ray._private.state.state.get_cluster_config()``. Ray publishes a cluster's
    node groups nowhere else (``ray.nodes()`` lists only nodes that are already up).
    """
    try:
        config = ray_state.state.get_cluster_config()
    except Exception:  # Ray Client, older GCS: not available
        return None
    if config is None or not config.node_group_configs:
        return None
    return [(g.name, dict(g.resources), None if g.max_count < 0 else int(g.max_count))
            for g in config.node_group_configs]


def started_by_this_process() -> bool:
    """True when this process started the cluster's head (``ray.init()`` with no address):
    such a cluster has no autoscaler.

    Private API: ``ray._private.worker.global_worker.node.head``. Ray says publicly whether it
    is initialized, not whether this process started the cluster it is connected to.
    """
    try:
        return bool(ray._private.worker.global_worker.node.head)
    except Exception:  # Ray Client: no local node
        return False


def session_logs_dir() -> str | None:
    """The log folder of the Ray session this process is connected to (on this machine), or
    None (Ray Client, not initialized).

    Private API: ``ray._private.worker.global_worker.node.get_logs_dir_path()``. Ray names
    its session folder publicly only in log lines; raytuner copies the logs of the local
    cluster it started into the run folder.
    """
    try:
        return str(ray._private.worker.global_worker.node.get_logs_dir_path())
    except Exception:  # Ray Client or not connected: no local node
        return None


# ---------------------------------------------------------------------------------------------
# Cluster launcher files


def prepare_and_validate_launcher_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Ray's view of a cluster launcher config, validated the way ``ray up`` does, offline.

    Private API: ``ray.autoscaler._private.util.prepare_config`` (merges the provider's
    defaults shipped in the wheel, fills node types) and ``validate_config`` (the JSON schema
    ``ray-schema.json`` plus cross-field rules). ``ray up`` runs them; Ray has no public
    function that validates a launcher file without a cloud account. Raises what they raise
    (``jsonschema.ValidationError``, ``ValueError``, ...).
    """
    prepared = prepare_config(copy.deepcopy(dict(config)))
    validate_config(prepared)
    return prepared


# ---------------------------------------------------------------------------------------------
# Actor reuse: a trial handed a reused actor that had died is not charged for it

#: marks TuneController once :func:`spare_trials_on_dead_reused_actors` patched it
_SPARED = "_raytuner_spares_dead_reused_actors"


def spare_trials_on_dead_reused_actors() -> None:
    """Patch Ray Tune so a trial handed a cached (reused) actor that had died in the cache
    goes back to the queue for a fresh actor, with no failure counted against it.

    Why: with ``reuse_actors=True`` Tune keeps a finished trial's actor to run the next trial.
    Nothing watches an idle cached actor, so when its worker process dies there (killed, OOM)
    Tune notices only when it hands the actor to the next trial and schedules ``reset``. That
    task fails with ``RayActorError``, and Tune's actor manager then calls *two* error
    callbacks (see ``RayActorManager._actor_task_failed``): the actor's (``_actor_failed``,
    which counts failure #1 for the pending trial and requeues it) and the task's
    (``_trial_task_failure``, which counts failure #2 and, the trial now being PENDING rather
    than RUNNING, ends it ERROR without any retry). An innocent trial that never started thus
    ends errored with 0 epochs, both failures naming the dead actor's pid, in the same second.

    Private API: ``TuneController._actor_failed``, ``_trial_task_failure``,
    ``_resetting_trials``, ``_actor_to_trial``, ``_staged_trials``, ``_pending_trials_list``,
    ``_resources_to_pending_trials``, ``_unstage_trial_with_resources``, ``_actor_stopped``
    and ``_actor_manager``. Ray has no public hook into actor reuse; ``reuse_actors=False``
    avoids the bug but costs a process start per trial (16x slower for short trials here).
    Idempotent.
    """
    from ray.exceptions import RayActorError
    from ray.tune.execution.tune_controller import TuneController

    if getattr(TuneController, _SPARED, False):
        return
    actor_failed = TuneController._actor_failed
    trial_task_failure = TuneController._trial_task_failure

    def _actor_failed(self: Any, tracked_actor: Any, exception: Exception) -> None:
        trial = self._actor_to_trial.get(tracked_actor)
        if trial is None or trial not in self._resetting_trials:
            return actor_failed(self, tracked_actor, exception)
        # The reused actor died before this trial ran a step on it: drop the actor, put the
        # trial back in the queue unstaged (so it gets a fresh actor), and remember to ignore
        # the reset task's own error callback that follows.
        self._resetting_trials.discard(trial)
        self._actor_manager.clear_actor_task_futures(tracked_actor)
        tracked_actor.set_on_stop(None)
        tracked_actor.set_on_error(None)
        self._actor_manager.remove_actor(tracked_actor, kill=False)
        self._actor_stopped(tracked_actor)
        if trial in self._staged_trials:
            self._unstage_trial_with_resources(trial)
        if trial not in self._pending_trials_list:
            self._pending_trials_list.append(trial)
        self._resources_to_pending_trials[trial.placement_group_factory].add(trial)
        spared = self.__dict__.setdefault("_raytuner_spared", set())
        spared.add(trial)
        ray_logger.warning("raytuner: the reused worker given to trial %s had died; starting "
                           "a new worker for it (no retry counted)", trial)

    def _trial_task_failure(self: Any, trial: Any, exception: Exception) -> None:
        spared = self.__dict__.get("_raytuner_spared", set())
        if trial in spared and isinstance(exception, RayActorError):
            spared.discard(trial)  # the reset task's callback of the failure just handled
            return
        return trial_task_failure(self, trial, exception)

    TuneController._actor_failed = _actor_failed
    TuneController._trial_task_failure = _trial_task_failure
    setattr(TuneController, _SPARED, True)


# ---------------------------------------------------------------------------------------------
# Inside a trial: where the checkpoint being reported is written


def current_checkpoint_location() -> tuple[Any, str, str] | None:
    """``(filesystem, checkpoint folder, trial folder)`` on storage of the checkpoint the
    running trial is reporting, or None outside a Tune trial.

    Private API: ``ray.train._internal.session.get_session().storage`` (its
    ``storage_filesystem``, ``checkpoint_fs_path`` and ``trial_fs_path``). The public
    ``tune.get_context().get_trial_dir()`` names the trial's local working folder, not the
    storage folder a full disk stopped ``tune.report`` from writing.
    """
    from ray.train._internal.session import get_session

    session = get_session()
    storage = getattr(session, "storage", None)
    if storage is None:
        return None
    return storage.storage_filesystem, storage.checkpoint_fs_path, storage.trial_fs_path


# ---------------------------------------------------------------------------------------------
# Ray's uploads to a folder on a file system, made atomic per file

#: marks ray.train._internal.storage once :func:`make_local_uploads_atomic` patched it
_ATOMIC = "_raytuner_atomic_local_uploads"


def make_local_uploads_atomic() -> None:
    """Patch Ray's storage copy so that an upload to a folder on a file system (a local disk,
    NFS) writes every file beside its target and renames it into place.

    Why: the driver syncs its files (``experiment_state-*.json``, ``tuner.pkl``, each trial's
    ``result.json``, ``error.pkl``...) into the run folder again and again, overwriting them in
    place with ``pyarrow.fs.copy_files``. On a disk that fills up, every file that sync touched
    is left truncated, and ``raytuner resume`` then dies on an empty pickle ("Ran out of
    input") with the trials' results gone. With this patch a failed sync leaves the previous,
    whole files. Object storage needs nothing: an upload there appears whole or not at all.

    Private API: ``ray.train._internal.storage._pyarrow_fs_copy_files``, which every upload of
    Ray Train/Tune goes through (looked up by name at each call). Ray has no public syncer
    hook since ``SyncConfig(syncer=...)`` was removed. Idempotent.
    """
    from ray.train._internal import storage as ray_storage_mod

    if getattr(ray_storage_mod, _ATOMIC, False):
        return
    copy_files = ray_storage_mod._pyarrow_fs_copy_files

    def atomic_copy_files(source: Any, destination: Any, source_filesystem: Any = None,
                          destination_filesystem: Any = None, **kwargs: Any) -> Any:
        if not isinstance(destination_filesystem, pyarrow.fs.LocalFileSystem):
            return copy_files(source, destination, source_filesystem=source_filesystem,
                              destination_filesystem=destination_filesystem, **kwargs)
        moves = _files_to_copy(source_filesystem or pyarrow.fs.LocalFileSystem(), str(source),
                               Path(destination))
        if moves is None:  # not there: Ray's own copy raises its own error
            return copy_files(source, destination, source_filesystem=source_filesystem,
                              destination_filesystem=destination_filesystem, **kwargs)
        filesystem, files = moves
        destination = Path(destination)
        parent = destination if len(files) != 1 or files[0][1] != str(destination) \
            else destination.parent
        # The driver uploads its whole staging folder (every trial's result files) again at
        # each sync, and Ray forces a sync whenever a trial has written `checkpoint.keep`
        # checkpoints since the last one: copying only what changed, with plain string paths
        # (no Path per file), keeps a sync cheap: B5's run of 1,000 trials spent most of a
        # core in this thread otherwise (a sync of 5,000 unchanged files: 64 ms with Path
        # objects, 17 ms without).
        files = [f for f in files if not _unchanged(f)]
        if not files:
            return None
        parent.mkdir(parents=True, exist_ok=True)
        # Everything first into a staging folder on the same disk, then renamed into place:
        # a full disk fails the copy, never a target.
        staging = Path(tempfile.mkdtemp(prefix=".raytuner-upload-", dir=parent))
        try:
            staged = []
            for index, (path, target, _, mtime_ns) in enumerate(files):
                with filesystem.open_input_stream(path) as inp, \
                        open(staging / str(index), "wb") as out:
                    shutil.copyfileobj(inp, out, 1 << 20)
                if mtime_ns is not None:  # what the next sync's quick check compares
                    os.utime(staging / str(index), ns=(mtime_ns, mtime_ns))
                staged.append((staging / str(index), Path(target)))
            for path, target in staged:
                target.parent.mkdir(parents=True, exist_ok=True)
                path.replace(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return None

    ray_storage_mod._pyarrow_fs_copy_files = atomic_copy_files
    setattr(ray_storage_mod, _ATOMIC, True)


#: (source path, target path, size, modification time in ns or None) of one file to upload
UploadFile = tuple[str, str, int, "int | None"]

def _files_to_copy(filesystem: Any, source: str, destination: Any
                   ) -> tuple[Any, list[UploadFile]] | None:
    """``(filesystem, files)`` for copying ``source`` (a file or a folder on ``filesystem``)
    to ``destination``; None when ``source`` does not exist."""
    info = filesystem.get_file_info(source)
    if info.type == pyarrow.fs.FileType.File:
        return filesystem, [(source, str(destination), info.size, info.mtime_ns)]
    if info.type != pyarrow.fs.FileType.Directory:
        return None
    # Plain string work, no Path per file: a sync lists thousands of files, many times a run.
    root = source.rstrip("/") + "/"
    target_root = str(destination).rstrip("/") + "/"
    selector = pyarrow.fs.FileSelector(source, recursive=True)
    file_type = pyarrow.fs.FileType.File
    files = []
    for i in filesystem.get_file_info(selector):
        if i.type != file_type:
            continue
        path = i.path
        relative = path[len(root):] if path.startswith(root) else \
            os.path.relpath("/" + path.lstrip("/"), "/" + source.strip("/"))
        files.append((path, target_root + relative, i.size, i.mtime_ns))
    return filesystem, files


def _unchanged(file: UploadFile) -> bool:
    """rsync's quick check: the file's target has the source's size and modification time
    (each upload gives its copy the source's), so it holds the same bytes and needs no copy."""
    _, target, size, mtime_ns = file
    if mtime_ns is None:
        return False
    try:
        stat = os.stat(target)
    except OSError:
        return False
    return stat.st_size == size and stat.st_mtime_ns == mtime_ns


# ---------------------------------------------------------------------------------------------
# Ray's experiment snapshot, encoded in one shot

#: marks ray.tune.execution.tune_controller once :func:`encode_experiment_state_in_one_shot`
#: patched it
_ONE_SHOT = "_raytuner_one_shot_experiment_state"


class _OneShotJson:
    """The ``json`` module as Ray's ``tune_controller`` sees it, but ``dump`` encodes the whole
    object with the C encoder (``json.dumps``) and writes it at once; everything else is
    ``json``'s own."""

    def __getattr__(self, name: str) -> Any:
        return getattr(json, name)

    @staticmethod
    def dump(obj: Any, fp: Any, **kwargs: Any) -> None:
        """``json.dump`` with the same output, in one ``write``."""
        fp.write(json.dumps(obj, **kwargs))


def encode_experiment_state_in_one_shot() -> None:
    """Make ``TuneController.save_to_dir`` write the experiment state with ``json.dumps``.

    Why: Ray snapshots the experiment (every trial's state, O(trials)) at every forced sync,
    and forces one whenever a trial has written ``CheckpointConfig(num_to_keep)`` checkpoints
    since the last: with a checkpoint per epoch that is every ``checkpoint.keep`` epochs of
    any trial, O(trials) snapshots of O(trials) each. ``json.dump`` to a file encodes in pure
    Python and writes every token separately; B5's run of 1,000 trials spent ~40% of the
    driver's time there. ``json.dumps`` builds the same text with the C encoder.

    Private API: the module global ``json`` of ``ray.tune.execution.tune_controller``, which
    ``save_to_dir`` calls as ``json.dump(runner_state, f, cls=TuneFunctionEncoder)``; no other
    use of ``json`` in that module changes. Idempotent.
    """
    from ray.tune.execution import tune_controller

    if getattr(tune_controller, _ONE_SHOT, False):
        return
    tune_controller.json = _OneShotJson()
    setattr(tune_controller, _ONE_SHOT, True)
