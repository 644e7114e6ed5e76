"""``raytuner tensorboard``: serve a run folder's aggregated logs with TensorBoard itself."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow.fs as pafs
from tensorboard import program

from raytuner.errors import ConfigError, RunError
from raytuner.files import resolve_location
from raytuner.runs.folder import EXPERIMENT_STATE_PREFIX, TENSORBOARD_DIR, load_run_experiment
from raytuner.tensorboard import storage
from raytuner.tensorboard.rebuild import rebuild as rebuild_logs


def _has_experiment_state(fs: pafs.FileSystem, path: str) -> bool:
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=False))
    return any(i.base_name.startswith(EXPERIMENT_STATE_PREFIX) for i in infos)


def prepare_logdir(location: str, *, rebuild: bool) -> tuple[str, object | None]:
    """The local folder TensorBoard reads, and for a remote run the filesystem to refresh it
    from. Rebuilds first when asked, or when the run has results but no aggregated logs yet
    (a run made before the live writer existed)."""
    resolved = resolve_location(location, key=None)
    fs, path = resolved.filesystem, resolved.fs_path
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        raise ConfigError("run folder not found", source=str(location))
    load_run_experiment(path, filesystem=fs)  # a clear error for a folder that is not a run
    target = f"{path}/{TENSORBOARD_DIR}"
    missing = fs.get_file_info(target).type != pafs.FileType.Directory
    if rebuild or (missing and _has_experiment_state(fs, path)):
        print(f"rebuilding {target} from the trials' result files", flush=True)
        rebuild_logs(location)
    if storage.is_local(fs):
        Path(target).mkdir(parents=True, exist_ok=True)
        return target, None
    cache = storage.local_staging_dir()
    storage.download(fs, target, cache)
    return str(cache), (fs, target)


def _refresh(remote: tuple[pafs.FileSystem, str], cache: str, interval_s: float,
             stop: threading.Event) -> None:
    fs, target = remote
    while not stop.wait(interval_s):
        try:
            storage.download(fs, target, Path(cache))
        except OSError as exc:
            print(f"raytuner: could not refresh from {target}: {exc}", flush=True)


def serve(location: str, *, host: str = "127.0.0.1", port: int | None = None,
          rebuild: bool = False, refresh_s: float = 10.0) -> int:
    """Start TensorBoard on the run's aggregated logs, print its URL, and serve until
    interrupted. Works while the run is going: TensorBoard reloads the folder as it grows."""
    logdir, remote = prepare_logdir(location, rebuild=rebuild)
    board = program.TensorBoard()
    flags = {"logdir": logdir, "host": host, "reload_interval": 5.0}
    if port is not None:
        flags["port"] = port
    board.configure(**flags)
    try:
        url = board.launch()
    except program.TensorBoardServerException as exc:  # e.g. the port is taken
        raise RunError(f"TensorBoard could not start: {exc.msg}") from None
    print(f"TensorBoard {url} (logs: {logdir}); press Ctrl-C to stop", flush=True)
    stop = threading.Event()
    if remote is not None:
        threading.Thread(target=_refresh, args=(remote, logdir, refresh_s, stop),
                         daemon=True).start()
    try:
        while True:
            time.sleep(3600)
    finally:
        stop.set()
