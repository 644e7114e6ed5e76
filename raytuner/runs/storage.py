"""Where run folders live: local paths and storage URIs (``s3://``, ``gs://``, ``file://``, any
filesystem ``pyarrow.fs.FileSystem.from_uri`` resolves, which is what Ray Tune's storage uses).

Three jobs, each checked before any trial starts:

* **Resolve** ``--storage`` (default: ``$RAYTUNER_STORAGE``, else ``runs``) to a
  :class:`StorageLocation`. A malformed URI or unknown scheme is a ConfigError.
* **Check it is usable** before Ray starts: the run folder can be created and written, and a
  location on this machine's disk has at least :data:`MIN_FREE_BYTES` free.
* **Check it is shared** once Ray runs: on a cluster of more than one node, a path on the
  driver's disk would keep only the checkpoints of trials that ran on the driver's node, so it is
  refused unless the user declares it a shared mount (``--shared-storage``).

Run folders given as URIs are driven through a local *mirror* folder: Ray Tune writes trials
straight to the URI; raytuner's own files (``experiment.yaml``, ``summary.json``) are written to
the mirror and uploaded, and the trials' small result files are downloaded into it to build the
summary (checkpoints stay in storage and the summary names them by URI).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pyarrow.fs

from raytuner.errors import ConfigError
from raytuner.files import StorageLocation, is_uri, resolve_location

#: environment variable naming the default storage location (the cluster files set it)
ENV_STORAGE = "RAYTUNER_STORAGE"
#: ``1``/``true``: the storage path is a mount every node shares (the ``--shared-storage`` default)
ENV_SHARED = "RAYTUNER_SHARED_STORAGE"
#: free-space threshold override, in GiB (e.g. for small scratch disks)
ENV_MIN_FREE = "RAYTUNER_MIN_FREE_GB"
#: where the mirrors of URI run folders live (default ``~/.cache/raytuner/mirrors``)
ENV_MIRRORS = "RAYTUNER_MIRROR_DIR"
DEFAULT_STORAGE = "runs"
#: a location with less free space than this is refused: a run writes a checkpoint per epoch
#: per trial and a full disk mid-run corrupts nothing (writes are atomic) but stops every trial
MIN_FREE_BYTES = 1 << 30
#: inside a mirror: where the run folder really lives
MIRROR_MARKER = ".raytuner-storage.json"
_SMALL_SUFFIXES = (".json", ".csv", ".yaml", ".pkl", ".txt", ".log")


def default_storage(storage: str | os.PathLike | None) -> str:
    """``storage`` when given, else ``$RAYTUNER_STORAGE``, else ``runs``."""
    if storage is not None and str(storage).strip():
        return str(storage)
    return os.environ.get(ENV_STORAGE, "").strip() or DEFAULT_STORAGE


def default_shared(shared: bool | None) -> bool:
    """``shared`` when given, else ``$RAYTUNER_SHARED_STORAGE`` (1/true/yes)."""
    if shared is not None:
        return shared
    return os.environ.get(ENV_SHARED, "").strip().lower() in ("1", "true", "yes")


def resolve_storage(storage: str | os.PathLike | None) -> StorageLocation:
    """Resolve ``--storage`` (or its default) to a :class:`~raytuner.files.StorageLocation`;
    ConfigError when the URI is malformed or its filesystem is unknown or unavailable."""
    return resolve_location(default_storage(storage))


def _min_free_bytes() -> int:
    raw = os.environ.get(ENV_MIN_FREE, "").strip()
    if not raw:
        return MIN_FREE_BYTES
    try:
        return int(float(raw) * (1 << 30))
    except ValueError:
        raise ConfigError(f"{ENV_MIN_FREE}={raw!r} is not a number of GiB") from None


def check_free_space(path: str | os.PathLike, *, label: str,
                     min_free_bytes: int | None = None) -> None:
    """ConfigError naming ``label`` when the disk holding ``path`` has less than
    ``min_free_bytes`` (default :data:`MIN_FREE_BYTES`) free."""
    needed = _min_free_bytes() if min_free_bytes is None else min_free_bytes
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise ConfigError(f"storage location {label} has only {free / (1 << 30):.2f} GiB free; "
                          f"at least {needed / (1 << 30):.2f} GiB is needed for checkpoints "
                          f"(free some space, pick another --storage, or lower {ENV_MIN_FREE})")


def check_writable(location: StorageLocation, run_folder: str) -> None:
    """Create ``run_folder`` (an fs path) and write, read and delete a probe file in it;
    ConfigError naming the location when any step fails, then the free-space check."""
    filesystem = location.filesystem
    probe = f"{run_folder}/.raytuner-write-test-{uuid.uuid4().hex[:8]}"
    try:
        filesystem.create_dir(run_folder, recursive=True)
        with filesystem.open_output_stream(probe) as handle:
            handle.write(b"ok")
        with filesystem.open_input_stream(probe) as handle:
            if handle.read() != b"ok":
                raise OSError("probe file read back differently")
        filesystem.delete_file(probe)
    except Exception as exc:  # OSError, ArrowException, botocore-style credential errors
        raise ConfigError(f"storage location {location.uri} is not writable: {exc}",
                          path="--storage") from None
    if location.on_this_machine:
        check_free_space(run_folder, label=location.uri)


def _is_empty_dir(filesystem: Any, fs_path: str) -> bool:
    info = filesystem.get_file_info(fs_path)
    if info.type == pyarrow.fs.FileType.NotFound:
        return True
    if info.type != pyarrow.fs.FileType.Directory:
        return False
    listing = filesystem.get_file_info(pyarrow.fs.FileSelector(fs_path, allow_not_found=True))
    return not listing


# ---------------------------------------------------------------------------------------------
# URI run folders through a local mirror


def mirror_dir(run_uri: str) -> Path:
    """The local mirror folder of the run folder ``run_uri``."""
    root = Path(os.environ.get(ENV_MIRRORS, "") or "~/.cache/raytuner/mirrors").expanduser()
    parsed = urllib.parse.urlsplit(run_uri)
    parts = [p for p in (parsed.netloc + parsed.path).split("/") if p not in ("", ".", "..")]
    return root.resolve().joinpath(parsed.scheme or "file", *parts)


def run_uri(run_dir: str | os.PathLike) -> str | None:
    """The URI a mirror folder stands for; None for a plain run folder."""
    marker = Path(run_dir) / MIRROR_MARKER
    if not marker.is_file():
        return None
    return json.loads(marker.read_text(encoding="utf-8"))["uri"]


def ray_storage(run_dir: Path) -> tuple[str, str]:
    """``(storage_path, name)`` for Ray's RunConfig: the URI's parent for a mirror, else the
    run folder's parent."""
    uri = run_uri(run_dir)
    if uri is None:
        return str(run_dir.parent), run_dir.name
    parent, _, name = uri.rstrip("/").rpartition("/")
    return parent, name


def ray_run_path(run_dir: Path) -> str:
    """The run folder as Ray Tune reads it (``Tuner.restore``, ``can_restore``)."""
    return run_uri(run_dir) or str(run_dir)


def prepare_uri_run_dir(location: StorageLocation, name: str, *, overwrite: bool) -> Path:
    """Check and create ``<uri>/<name>`` and its local mirror; refuse to replace a run unless
    ``overwrite``. Returns the mirror folder."""
    uri = location.child(name)
    fs_path = f"{location.fs_path.rstrip('/')}/{name}"
    try:
        empty = _is_empty_dir(location.filesystem, fs_path)
    except Exception as exc:  # unreachable endpoint, missing credentials, no such bucket
        raise ConfigError(f"storage location {location.uri} cannot be read: {exc}",
                          path="--storage") from None
    if not empty:
        if not overwrite:
            raise ConfigError(f"run folder {uri} already exists; use `raytuner resume {uri}` to "
                              "continue it, --overwrite to replace it, or --name to pick another "
                              "name")
        try:
            location.filesystem.delete_dir(fs_path)
        except Exception as exc:
            raise ConfigError(f"cannot replace run folder {uri}: {exc}") from None
    check_writable(location, fs_path)
    mirror = mirror_dir(uri)
    if mirror.exists():
        shutil.rmtree(mirror)
    mirror.mkdir(parents=True)
    (mirror / MIRROR_MARKER).write_text(json.dumps({"uri": uri}) + "\n", encoding="utf-8")
    return mirror


def localize_run_dir(run_dir: str | os.PathLike) -> Path:
    """A run folder given as a URI -> its mirror, refreshed from storage (for ``resume`` and
    ``best``); a path -> itself."""
    if not is_uri(run_dir):
        return Path(run_dir).expanduser().resolve()
    uri = str(run_dir).rstrip("/")
    location = resolve_storage(uri)
    mirror = mirror_dir(uri)
    mirror.mkdir(parents=True, exist_ok=True)
    (mirror / MIRROR_MARKER).write_text(json.dumps({"uri": uri}) + "\n", encoding="utf-8")
    pull(mirror, location=location)
    return mirror


def push(run_dir: Path, *names: str) -> None:
    """Upload raytuner's files ``names`` from a mirror to its URI (no-op for a plain folder)."""
    uri = run_uri(run_dir)
    if uri is None:
        return
    location = resolve_storage(uri)
    for name in names:
        source = run_dir / name
        if source.is_file():
            with location.filesystem.open_output_stream(f"{location.fs_path}/{name}") as handle:
                handle.write(source.read_bytes())


def pull(run_dir: Path, *, location: StorageLocation | None = None) -> None:
    """Download a URI run folder's small files (results, experiment state, raytuner's files;
    no checkpoint data) into its mirror (no-op for a plain folder)."""
    uri = run_uri(run_dir)
    if uri is None:
        return
    location = location or resolve_storage(uri)
    root = location.fs_path.rstrip("/")
    selector = pyarrow.fs.FileSelector(root, recursive=True, allow_not_found=True)
    for info in location.filesystem.get_file_info(selector):
        relative = info.path[len(root):].lstrip("/")
        if (info.type != pyarrow.fs.FileType.File or "/checkpoint_" in f"/{relative}"
                or not relative.endswith(_SMALL_SUFFIXES) and "events.out" not in relative):
            continue
        target = run_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with location.filesystem.open_input_stream(info.path) as handle:
            target.write_bytes(handle.read())


def storage_summary(run_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """For a mirror, rewrite the summary's folder and checkpoint paths (which point into the
    mirror) to the URIs where they really are; a plain folder's summary is returned as is."""
    uri = run_uri(run_dir)
    if uri is None:
        return summary
    prefix = str(run_dir)
    # Ray's analysis of the mirror names checkpoints by their path in storage (sometimes
    # joined onto the mirror's path): whatever follows the run folder's storage path or the
    # mirror's path is the part inside the run folder.
    markers = [resolve_storage(uri).fs_path.rstrip("/"), prefix]

    def to_uri(text: str) -> str:
        for marker in markers:
            at = text.rfind(marker)
            if at >= 0 and (text[at + len(marker):] or "/").startswith("/"):
                return uri + text[at + len(marker):]
        return text

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            return to_uri(value)
        if isinstance(value, dict):
            return {k: fix(v) if k in ("run_dir", "path", "checkpoint", "error_file") or
                    isinstance(v, dict | list) else v for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    summary = fix(summary)
    summary["run_dir"] = uri
    summary["mirror"] = prefix
    return summary


# ---------------------------------------------------------------------------------------------
# Once Ray runs: is the storage shared by every node?


def check_shared(location_uri: str, *, shared: bool, nodes_count: int,
                 can_grow: bool = False) -> None:
    """ConfigError when ``location_uri`` is on this machine's disk, the cluster has more than
    one node (``nodes_count`` alive; or an autoscaler may add some: ``can_grow``), and
    ``shared`` was not declared."""
    if shared:
        return
    location = resolve_storage(location_uri)
    if not location.on_this_machine:
        return
    count = nodes_count
    if count <= 1 and not can_grow:
        return
    where = f"{count} nodes" if count > 1 else "an autoscaling cluster"
    raise ConfigError(
        f"storage location {location.uri} is a folder on this machine, but the Ray cluster has "
        f"{where}: trials on other nodes would write their checkpoints to their own disks and "
        "lose them. Use storage every node reaches (--storage s3://bucket/runs, gs://...), or, "
        f"if the path is a shared mount (NFS) on every node, pass --shared-storage (or set "
        f"{ENV_SHARED}=1)", path="--storage")


def storage_of(run_dir: Path) -> str:
    """Where a run folder's trials write: the URI of a mirror, else the folder itself."""
    return run_uri(run_dir) or str(run_dir)


def prepare_storage(storage: str | os.PathLike | None, name: str, *, overwrite: bool
                    ) -> tuple[str, Path | None]:
    """Resolve ``storage`` (default: ``$RAYTUNER_STORAGE``, else ``runs``) and check it before Ray
    starts. Returns ``(storage, mirror)``: for a URI the run folder is prepared here and
    ``mirror`` is its local mirror; for a path ``mirror`` is None, the free space of its disk
    has been checked, and the caller creates the folder."""
    location = resolve_storage(storage)
    if not location.is_path:
        return location.uri, prepare_uri_run_dir(location, name, overwrite=overwrite)
    path = Path(location.uri)
    check_local_storage(path)
    return str(path), None


def check_local_storage(path: Path) -> None:
    """ConfigError when the folder ``path`` cannot hold runs: a file in its way, or too little
    free space on its disk. Writes nothing."""
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ConfigError(f"storage location {path} is not writable: {blocker} is a file, not a "
                          "folder", path="--storage")
    check_free_space(path, label=str(path))


def discard_new_run(run_dir: Path) -> None:
    """Remove a run folder that was just created and holds no trial yet (a check after Ray
    started refused the run): its mirror and, for a URI run, the folder in storage."""
    uri = run_uri(run_dir)
    if uri is not None:
        location = resolve_storage(uri)
        # Nothing there, or not ours to delete: leave it.
        with contextlib.suppress(Exception):
            location.filesystem.delete_dir(location.fs_path)
    shutil.rmtree(run_dir, ignore_errors=True)
