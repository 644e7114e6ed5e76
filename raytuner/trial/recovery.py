"""Resuming a trial from its checkpoint safely: a corrupt checkpoint is never used silently.

Ray hands a restored or retried trial its latest registered checkpoint. When that one is
truncated or corrupt (a disk that filled up, a node lost mid-copy, a bit flip caught by the
checksum), the trial resumes from the newest *valid* earlier checkpoint folder of the same trial
(``checkpoint_NNNNNN`` siblings, Ray's naming) and says so in the log; when none is valid, it
fails with a clear :class:`~raytuner.errors.CheckpointError` instead of starting over or
training on garbage.
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

import pyarrow.fs
import torch

from raytuner.config.schema import Experiment
from raytuner.errors import CheckpointError
from raytuner.trial.checkpoint import load_state

log = logging.getLogger("raytuner")

_CHECKPOINT_NAME = re.compile(r"^checkpoint_(\d+)$")


def checkpoint_index(path: str) -> int | None:
    """The number of a ``.../checkpoint_000012`` folder (12), or None for other names."""
    match = _CHECKPOINT_NAME.match(path.rstrip("/").rsplit("/", 1)[-1])
    return int(match.group(1)) if match else None


def load_first_valid(candidates: Iterable[tuple[str, Callable[[], Any]]]
                     ) -> tuple[dict[str, Any], str, list[str]]:
    """Load the first candidate that is a valid checkpoint.

    ``candidates`` are ``(name, load)`` pairs, newest first; ``load()`` returns the state or
    raises CheckpointError. Returns ``(state, name, problems)`` where ``problems`` describes each
    candidate skipped before it; raises CheckpointError naming every problem when none loads.
    """
    problems: list[str] = []
    for name, load in candidates:
        try:
            return load(), name, problems
        except CheckpointError as exc:
            problems.append(str(exc))
    if not problems:
        raise CheckpointError("no checkpoint to resume from")
    raise CheckpointError("cannot resume safely, no valid checkpoint left: "
                          + "; ".join(problems))


# Ray's checkpoints are used through their own interface (``path``, ``filesystem``,
# ``as_directory()``, the class itself for siblings), so only the adapter imports Ray.


def _load_ray_checkpoint(checkpoint: Any) -> dict[str, Any]:
    with checkpoint.as_directory() as folder:
        return load_state(folder)


def _older_siblings(checkpoint: Any) -> list:
    """Earlier ``checkpoint_NNNNNN`` folders of the same trial, newest first, on whatever
    storage the checkpoint lives on (local disk, NFS, S3...)."""
    index = checkpoint_index(checkpoint.path)
    if index is None:
        return []
    parent = checkpoint.path.rstrip("/").rsplit("/", 1)[0]
    try:
        infos = checkpoint.filesystem.get_file_info(pyarrow.fs.FileSelector(parent))
    except OSError:
        return []
    older = [(checkpoint_index(info.path), info.path) for info in infos
             if info.type == pyarrow.fs.FileType.Directory]
    older = sorted((i, p) for i, p in older if i is not None and i < index)
    return [type(checkpoint)(path, filesystem=checkpoint.filesystem)
            for _, path in reversed(older)]


def restore_trial_state(checkpoint: Any) -> dict[str, Any]:
    """The training state to resume from Ray's ``checkpoint``, falling back to the newest
    valid earlier checkpoint of the trial when it is corrupt (logged as a warning)."""

    def candidates():
        yield checkpoint.path, lambda: _load_ray_checkpoint(checkpoint)
        for older in _older_siblings(checkpoint):
            yield older.path, lambda older=older: _load_ray_checkpoint(older)

    try:
        state, used, problems = load_first_valid(candidates())
    except CheckpointError as exc:
        trial_dir = checkpoint.path.rstrip("/").rsplit("/", 1)[0]
        raise CheckpointError(f"{exc}. Refusing to train this trial from a bad state; delete "
                              f"{trial_dir} to drop the trial's checkpoints, or rerun the "
                              "experiment with --overwrite") from None
    if problems:
        log.warning("raytuner: %s; resuming from the earlier checkpoint %s (epoch %s) instead",
                    "; ".join(problems), used, state.get("epoch"))
    return state


def release_memory(exp: Experiment) -> None:
    """After an out-of-memory error: say what happened and free cached GPU memory, so the retry
    Ray starts from the last checkpoint does not inherit a fragmented cache."""
    log.warning("raytuner: trial ran out of memory (train.batch_size=%s, resources.gpu=%s); "
                "it is retried from its last checkpoint up to failure.max_retries times; if it "
                "fails again, lower train.batch_size or the model size",
                exp.train.batch_size, exp.resources.gpu)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
