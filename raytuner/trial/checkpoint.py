"""Save and load the full training state of a trial, atomically and checksummed.

A checkpoint is a folder holding ``state.pt`` (model, optimizer, LR schedule, RNG states, epoch,
metric history, resolved config) and ``state.pt.sha256``. It is written to a temporary file and
renamed into place, so a crash mid-write never leaves a truncated ``state.pt`` behind (the
Ray adapter turns the folder into a Ray checkpoint); it is loaded with
``torch.load(weights_only=True)`` so a checkpoint cannot run code.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from raytuner.errors import CheckpointError
from raytuner.files import write_text_atomic

STATE_FILE = "state.pt"
#: sha256 of state.pt, written next to it: catches corruption torch's loader cannot (bit flips)
DIGEST_FILE = "state.pt.sha256"
FORMAT_VERSION = 1
WRITE_BLOCK = 1 << 16  # written in blocks of a memoryview: no copy of the whole state


def save_state(state: dict[str, Any], directory: str | os.PathLike, *,
               durable: bool = True) -> Path:
    """Write ``state`` to ``directory/state.pt`` with its digest; returns the file's path.

    ``durable=True`` (a folder that is itself the checkpoint): a process killed at any point
    leaves the folder's previous checkpoint, if it had one, loadable and checked. The order is
    what makes that so: the new state goes to a temporary file, synced to disk; the digest file
    then lists the old and the new file's sha256 (an atomic replace); state.pt is replaced; the
    digest file then lists the new one alone. At every moment state.pt is whole and its digest
    is listed.

    ``durable=False``: ``directory`` is a fresh, private folder that something else copies into
    the checkpoint store (the Ray adapter's temporary folder, which Tune persists and registers
    only once copied): the two files are written straight, with no sync and no renames, which
    would protect nothing there. The digest still travels with the copy and is checked on load.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / STATE_FILE
    buffer = io.BytesIO()
    torch.save({"format": FORMAT_VERSION, **state}, buffer)
    payload = buffer.getbuffer()
    new_digest = hashlib.sha256(payload).hexdigest()  # from memory: no second read of the file
    if not durable:
        target.write_bytes(payload)
        (directory / DIGEST_FILE).write_text(new_digest + "\n")
        return target
    # Not raytuner.files.atomic_write: the digest must be listed between writing the
    # temporary file and renaming it into place.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{STATE_FILE}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            for start in range(0, len(payload), WRITE_BLOCK):
                handle.write(payload[start:start + WRITE_BLOCK])
            handle.flush()
            os.fsync(handle.fileno())
        old_digests = _listed_digests(directory) if target.is_file() else []
        _write_digests(directory, [*old_digests, new_digest])
        os.replace(tmp, target)
        _write_digests(directory, [new_digest])
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _write_digests(directory: Path, digests: list[str]) -> None:
    write_text_atomic(directory / DIGEST_FILE, "".join(d + "\n" for d in digests))


def _listed_digests(directory: Path) -> list[str]:
    digest = directory / DIGEST_FILE
    return digest.read_text().split() if digest.is_file() else []


def load_state(directory: str | os.PathLike, map_location: str | torch.device = "cpu"
               ) -> dict[str, Any]:
    """Load a checkpoint folder written by :func:`save_state`; CheckpointError if unusable."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"no {STATE_FILE} in checkpoint folder {directory}")
    digest = Path(directory) / DIGEST_FILE
    if digest.is_file() and _sha256(path) not in _listed_digests(Path(directory)):
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: its sha256 does not "
                              f"match {DIGEST_FILE}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, bad pickle, ...: all mean "unusable"
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a raytuner checkpoint (format "
                              f"{state.get('format') if isinstance(state, dict) else '?'})")
    return state


def disk_full_message(folder: str, epoch: int, *, local: bool = True) -> str:
    """What a trial says when the disk holding ``folder`` filled up while it saved the
    checkpoint of ``epoch``: the folder, its free space, what was kept and what to do."""
    free = ""
    if local:
        with contextlib.suppress(OSError):
            usage = shutil.disk_usage(folder)
            free = (f" ({usage.free / (1 << 20):.1f} MiB free of "
                    f"{usage.total / (1 << 20):.1f} MiB)")
    return (f"no space left on device while saving the checkpoint of epoch {epoch} to "
            f"{folder}{free}; nothing half-written is kept and the previous checkpoint "
            "stays: free some space, then continue the run with `raytuner resume`")


def _sha256(path: str | os.PathLike) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()
