"""The Ray adapter of a trial: a sampled config -> a training run that reports every epoch.

The only module of the trial side that imports Ray. Everything it calls (applying the sampled
values, data, the training loop, checkpoint files, recovery) works without Ray.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import tempfile
from collections.abc import Iterator
from typing import Any

import pyarrow.fs
import ray
import torch
from ray import tune

from raytuner.config.schema import Experiment
from raytuner.data import DataBundle, load_dataset
from raytuner.errors import CheckpointError
from raytuner.search.schedulers import SCHEDULERS
from raytuner.search.space import flatten
from raytuner.trial.checkpoint import disk_full_message, save_state
from raytuner.trial.crossval import make_trainer
from raytuner.trial.divergence import DIVERGED_KEY
from raytuner.trial.exploit import ORIGIN_KEY, hparam_scalars, origin, resume_trainer
from raytuner.trial.guard import guarded_epochs
from raytuner.trial.recovery import restore_trial_state

# Datasets a reused actor has already loaded, keyed by (data settings, seed): trials that
# search data.* keys load their own data, but only once per actor and setting.
_DATA_CACHE: dict[str, DataBundle] = {}


def _data_for(exp: Experiment, shared: DataBundle | None) -> DataBundle:
    if shared is not None:
        return shared
    key = repr((exp.data.model_dump(), exp.seed))
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # keep at most one set per actor
        _DATA_CACHE[key] = load_dataset(exp.data, exp.seed)
    return _DATA_CACHE[key]


def _device(exp: Experiment) -> str:
    # Ray sets CUDA_VISIBLE_DEVICES to the GPUs it gave this trial; none given -> CPU. A GPU
    # Ray gave (ray.get_gpu_ids()) may be logical only (no CUDA device): then the CPU too.
    gave_gpu = exp.resources.gpu > 0 and (not ray.is_initialized() or bool(ray.get_gpu_ids()))
    return "cuda" if gave_gpu and torch.cuda.is_available() else "cpu"


def run_trial(config: dict[str, Any], *, experiment: Experiment,
              data: DataBundle | None = None) -> None:
    """Ray Tune function trainable: train one sampled config, reporting and checkpointing
    every epoch, resuming from Ray's checkpoint when the trial is restored or retried."""
    # Ray logs every persisted checkpoint at INFO; once per epoch per trial drowns the table.
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    params = flatten(config, experiment.space)
    torch.set_num_threads(max(1, int(experiment.resources.cpu)))
    node_id = ray.get_runtime_context().get_node_id()
    trial_id = tune.get_context().get_trial_id()
    checkpoint = tune.get_checkpoint()
    # A corrupt checkpoint falls back to the trial's previous valid one, or fails clearly. The
    # checkpoint may be another trial's (a pbt exploit): see raytuner.trial.exploit.
    state = restore_trial_state(checkpoint) if checkpoint is not None else None
    trainer, lineage = resume_trainer(
        experiment, params, state, trial_id,
        lambda exp: make_trainer(exp, _data_for(exp, data), _device(exp)))
    exp = trainer.exp
    population = SCHEDULERS.get(exp.search.scheduler.name).factory.population
    extra: dict[str, Any] = {}
    if population:  # the settings that change mid-training, as curves; where they came from
        extra = {**hparam_scalars(params, exp.space), "lineage": lineage}
    # Divergence ends the trial with a worst-value report; out-of-memory is retried by Ray.
    for metrics in guarded_epochs(trainer.epochs(), exp):
        if metrics.get(DIVERGED_KEY):  # the last report: no state worth resuming from
            tune.report(metrics)
            return
        # node_id: which node ran each epoch (Tune's node_ip is the same for every node of a
        # one-machine cluster); a string, so not a metric. A copy: the history stays numeric.
        metrics = {**metrics, **extra, "node_id": node_id}
        if not checkpoint_due(exp, trainer):
            tune.report(metrics)
            continue
        epoch = int(metrics["epoch"])
        with tempfile.TemporaryDirectory(prefix="raytuner-ckpt-") as folder:
            with disk_full_is_clear(epoch, local_folder=folder):
                save_state({**trainer.state_dict(),
                            ORIGIN_KEY: origin(trial_id, params, lineage)},
                           folder, durable=False)
            # Tune copies the folder into the run's storage and registers it once copied
            with disk_full_is_clear(epoch):
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


@contextlib.contextmanager
def disk_full_is_clear(epoch: int, *, local_folder: str | None = None) -> Iterator[None]:
    """A full disk while saving (to ``local_folder``, a temporary folder) or reporting (to
    storage) the checkpoint of ``epoch``: fail with a CheckpointError naming the folder and its
    free space, after removing the half-written checkpoint folder from storage. The previous
    checkpoint stays, so the run can resume once space is freed."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENOSPC and "No space left on device" not in str(exc):
            raise
        if local_folder is not None:  # save_state leaves no temporary file behind
            raise CheckpointError(disk_full_message(local_folder, epoch)) from exc
        from raytuner import _ray_compat  # only on this path: it imports Ray's tuner side

        location = _ray_compat.current_checkpoint_location()
        if location is None:  # outside a Tune trial: nothing of Ray's to clean
            raise
        filesystem, half_written, trial_folder = location
        with contextlib.suppress(Exception):  # never trusted anyway: its digest cannot match
            filesystem.delete_dir(half_written)
        local = isinstance(filesystem, pyarrow.fs.LocalFileSystem)
        raise CheckpointError(disk_full_message(trial_folder, epoch, local=local)) from exc


def checkpoint_due(exp: Experiment, trainer: Any) -> bool:
    """Whether the epoch just trained is checkpointed: every ``checkpoint.every`` epochs, at the
    trial's last epoch, and whenever it improves the trial's best search metric (so the best
    model of a trial stopped between two saves is kept)."""
    every = exp.checkpoint.every
    if every == 1 or trainer.epoch % every == 0 or trainer.finished:
        return True
    *earlier, latest = [m.get(exp.search.metric) for m in trainer.history]
    if latest is None or not earlier:
        return True
    best = max(earlier) if exp.search.mode == "max" else min(earlier)
    return latest > best if exp.search.mode == "max" else latest < best


def make_trainable(exp: Experiment, data: DataBundle | None) -> Any:
    """``run_trial`` bound to the experiment object (sent once through Ray's object store),
    the shared data and per-trial resources."""
    trainable = tune.with_parameters(run_trial, experiment=exp, data=data)
    resources = {"cpu": exp.resources.cpu, "gpu": exp.resources.gpu}
    return tune.with_resources(trainable, resources)
