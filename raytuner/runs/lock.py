"""One driver per run folder: ``run``, ``run --resume``, ``resume`` and ``--overwrite`` hold a
lock on the run folder for the driver's whole life; read-only commands take none.

Two kinds, by where the run folder lives:

* **A folder on a file system** (a local disk, an NFS mount, a ``file://`` URI): an OS file lock
  (``flock``; Linux maps it onto NFS byte-range locks) on ``<storage>/.<name>.lock``, beside the
  run folder so that ``--overwrite`` can hold it while it deletes and recreates the folder. The
  kernel (or the NFS lock manager) drops it the moment the driver dies, however it dies. The
  file names the holder (host, pid, start time) and is deleted on release; a new driver that
  finds a holder's record (never released: killed) says that it takes the run over.
* **Object storage** (``s3://``, ``gs://``, ...): no locks there, so a *lease* file
  ``<storage>/.<name>.lease.json`` naming the holder and its last renewal, which a thread of the
  driver renews every :data:`LEASE_TTL_S` / 4 seconds. A lease not renewed for
  :data:`LEASE_TTL_S` (or held by a process that is dead on this very host) is stale and taken
  over, with a line saying so. Object stores have no compare-and-swap through pyarrow: after
  writing its lease a driver waits a moment and reads it back, so of two drivers that start in
  the same instant at most one goes on.

A second driver is refused with a :class:`~raytuner.errors.ConfigError` (exit 2) naming the
holder and what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow.fs

from raytuner.errors import ConfigError
from raytuner.files import StorageLocation, is_uri
from raytuner.runs.storage import check_local_storage, resolve_storage

log = logging.getLogger(__name__)

#: seconds a lease stays valid without renewal (``$RAYTUNER_LEASE_TTL_S`` overrides)
LEASE_TTL_S = 60.0
ENV_LEASE_TTL = "RAYTUNER_LEASE_TTL_S"
#: how long a driver waits after writing its lease before reading it back
LEASE_SETTLE_S = 1.0


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a run folder's lock."""

    host: str
    pid: int
    started: float
    renewed: float
    token: str

    @classmethod
    def me(cls, token: str, started: float) -> Holder:
        """This process, now."""
        return cls(socket.gethostname(), os.getpid(), started, time.time(), token)

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The holder a lock file records; None for an empty or unreadable record."""
        try:
            raw = json.loads(text)
            return cls(str(raw["host"]), int(raw["pid"]), float(raw["started"]),
                       float(raw["renewed"]), str(raw["token"]))
        except (ValueError, KeyError, TypeError):
            return None

    def dump(self) -> str:
        """The JSON record of this holder."""
        return json.dumps(self.__dict__) + "\n"

    def describe(self) -> str:
        """``pid 123 on host h (started 2026-01-01 10:00:00 UTC)``."""
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        return f"pid {self.pid} on host {self.host} (started {started})"

    def alive_here(self) -> bool | None:
        """Whether the holder's process is alive: True/False on this host, None elsewhere."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's live process
            return True
        return True


def lease_ttl_s() -> float:
    """:data:`LEASE_TTL_S`, or ``$RAYTUNER_LEASE_TTL_S`` when set."""
    raw = os.environ.get(ENV_LEASE_TTL, "").strip()
    try:
        return float(raw) if raw else LEASE_TTL_S
    except ValueError:
        raise ConfigError(f"{ENV_LEASE_TTL}={raw!r} is not a number of seconds") from None


def _refusal(run_folder: str, holder: Holder | None, extra: str = "") -> ConfigError:
    who = holder.describe() if holder else "another driver"
    return ConfigError(
        f"run folder {run_folder} is in use by {who}{extra}; wait for that run to end (or stop "
        f"it) before running, resuming or overwriting it, or pick another --name")


def _say(line: str) -> None:
    # The user must see a takeover whatever the logging setup: print, as the CLI does.
    print(line, flush=True)


# ---------------------------------------------------------------------------------------------
# A folder on a file system: an OS lock


class FileLock:
    """An exclusive ``flock`` on ``path`` holding this driver's :class:`Holder` record."""

    def __init__(self, path: Path, run_folder: str, storage_label: str | None = None):
        self.path, self.run_folder = path, run_folder
        self.storage_label = storage_label or str(path.parent)  # as the user gave it
        self._handle: IO[str] | None = None
        self._created_dir = False  # the storage folder was made for the lock: remove if unused

    def acquire(self) -> None:
        """Take the lock; ConfigError when another live driver holds it."""
        created = not self.path.parent.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"storage location {self.storage_label} is not writable: {exc}",
                              path="--storage") from None
        self._created_dir = created
        while True:
            handle = self._open()
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = Holder.parse(handle.read())
                handle.close()
                self._remove_created_dir()
                raise _refusal(self.run_folder, holder) from None
            # The holder before us may have deleted the file as it released it: then our lock
            # is on a file nobody else will open; lock the one now at the path instead.
            try:
                same = os.fstat(handle.fileno()).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            handle.close()
        handle.seek(0)
        previous = Holder.parse(handle.read())
        if previous is not None:  # a record never cleared: its driver died holding it
            _say(f"raytuner: run folder {self.run_folder} was locked by "
                 f"{previous.describe()}, which is no longer running; taking it over")
        handle.seek(0)
        handle.truncate()
        handle.write(Holder.me(uuid.uuid4().hex, time.time()).dump())
        handle.flush()
        os.fsync(handle.fileno())
        self._handle = handle

    def _open(self) -> IO[str]:
        try:
            return open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held while running
        except OSError as exc:
            raise ConfigError(f"storage location {self.storage_label} is not writable: {exc}",
                              path="--storage") from None

    def _remove_created_dir(self) -> None:
        if self._created_dir:
            with contextlib.suppress(OSError):  # not empty: a run is in it now
                self.path.parent.rmdir()

    def release(self) -> None:
        """Delete the lock file while still holding it, then drop the lock: a released run
        folder leaves no file behind, and only a killed driver's record remains (which tells
        the next driver it takes over)."""
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None
        self._remove_created_dir()


# ---------------------------------------------------------------------------------------------
# Object storage: a renewed lease


class Lease:
    """A lease file at ``path`` on ``filesystem`` (any pyarrow filesystem), renewed by a
    daemon thread while held."""

    def __init__(self, filesystem: pyarrow.fs.FileSystem, path: str, run_folder: str, *,
                 ttl_s: float | None = None, settle_s: float = LEASE_SETTLE_S):
        self.filesystem, self.path, self.run_folder = filesystem, path, run_folder
        self.ttl_s = lease_ttl_s() if ttl_s is None else ttl_s
        self.settle_s = settle_s
        self.token = uuid.uuid4().hex
        self.started = time.time()
        self.lost = False  # set when another driver's lease replaced ours
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> Holder | None:
        """The lease's current holder, or None when there is no (readable) lease."""
        try:
            info = self.filesystem.get_file_info(self.path)
            if info.type != pyarrow.fs.FileType.File:
                return None
            with self.filesystem.open_input_stream(self.path) as stream:
                return Holder.parse(stream.read().decode("utf-8"))
        except FileNotFoundError:  # deleted between the two calls
            return None
        except Exception as exc:  # unreachable endpoint, missing credentials, no such bucket
            raise ConfigError(f"storage location of {self.run_folder} cannot be read: {exc}",
                              path="--storage") from None

    def _write(self) -> None:
        with self.filesystem.open_output_stream(self.path) as stream:
            stream.write(Holder.me(self.token, self.started).dump().encode("utf-8"))

    def stale_reason(self, holder: Holder) -> str | None:
        """Why ``holder``'s lease may be taken over, or None while it is valid."""
        if holder.token == self.token:
            return None
        alive = holder.alive_here()
        if alive is False:
            return "which is no longer running"
        age = time.time() - holder.renewed
        if age > self.ttl_s:
            return f"whose lease was last renewed {age:.0f} s ago (valid for {self.ttl_s:.0f} s)"
        return None

    def acquire(self) -> None:
        """Take the lease (taking over a stale one, with a line saying so) and start renewing
        it; ConfigError when another driver holds a valid lease."""
        holder = self.read()
        if holder is not None:
            reason = self.stale_reason(holder)
            if reason is None:
                age = time.time() - holder.renewed
                raise _refusal(self.run_folder, holder, f", lease renewed {age:.0f} s ago")
            _say(f"raytuner: run folder {self.run_folder} was leased by {holder.describe()}, "
                 f"{reason}; taking it over")
        try:
            self._write()
        except Exception as exc:  # OSError, ArrowException, missing credentials
            raise ConfigError(f"cannot write the lease of run folder {self.run_folder}: {exc}",
                              path="--storage") from None
        time.sleep(self.settle_s)  # a driver that wrote at the same moment: last write wins
        now = self.read()
        if now is None or now.token != self.token:
            raise _refusal(self.run_folder, now, " (it took the lease at the same moment)")
        self._thread = threading.Thread(target=self._renew_loop, name="raytuner-lease",
                                        daemon=True)
        self._thread.start()

    def renew(self) -> bool:
        """Renew the lease once; False (and :attr:`lost`) when another driver holds it now."""
        holder = self.read()
        if holder is not None and holder.token != self.token:
            if not self.lost:
                log.warning("raytuner: the lease on run folder %s was taken by %s; this "
                            "driver no longer holds it", self.run_folder, holder.describe())
            self.lost = True
            return False
        self._write()
        return True

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 4):
            try:
                if not self.renew():
                    return
            except Exception as exc:  # storage hiccup: try again at the next tick
                log.warning("raytuner: could not renew the lease on %s: %s", self.run_folder,
                            exc)

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(Exception):  # unreachable now: the lease simply expires
            holder = self.read()
            if holder is not None and holder.token == self.token:
                self.filesystem.delete_file(self.path)


# ---------------------------------------------------------------------------------------------
# Choosing one


def lock_for(location: StorageLocation, name: str) -> FileLock | Lease:
    """The lock of run folder ``name`` in ``location``: an OS lock for a folder on a file
    system, a lease for object storage."""
    run_folder = location.child(name)
    if location.on_this_machine:
        return FileLock(Path(location.fs_path) / f".{name}.lock", run_folder, location.uri)
    return Lease(location.filesystem, f"{location.fs_path.rstrip('/')}/.{name}.lease.json",
                 run_folder)


@contextlib.contextmanager
def hold_run_folder(location: StorageLocation, name: str) -> Iterator[Any]:
    """Hold the lock of run folder ``name`` in ``location`` for the ``with`` block."""
    lock = lock_for(location, name)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


def hold_new_run(storage: str | os.PathLike | None, name: str) -> contextlib.AbstractContextManager:
    """The lock of run folder ``name`` in ``storage`` (``--storage`` or its default); a local
    storage folder is checked first, so bad storage is refused before anything is written."""
    location = resolve_storage(storage)
    if location.is_path:
        check_local_storage(Path(location.uri))
    return hold_run_folder(location, name)


def hold_existing_run(run_dir: str | os.PathLike) -> contextlib.AbstractContextManager:
    """The lock of the run folder ``run_dir`` (a path or a URI, as ``resume`` is given it)."""
    text = str(run_dir).rstrip("/")
    if is_uri(text):  # s3://bucket/runs/name?region=...: the query stays with the parent
        parsed = urllib.parse.urlsplit(text)
        parent, _, name = parsed.path.rstrip("/").rpartition("/")
        return hold_run_folder(resolve_storage(urllib.parse.urlunsplit(
            parsed._replace(path=parent))), name)
    path = Path(text).expanduser().resolve()
    if not path.is_dir():  # not a run: resume says so, and no lock file is left behind
        return contextlib.nullcontext()
    return hold_run_folder(resolve_storage(path.parent), path.name)
