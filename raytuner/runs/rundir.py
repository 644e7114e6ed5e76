"""Creating a run folder for a new run, and finding the one ``run --resume`` continues.

Everything here runs before Ray starts (bad storage or a different experiment costs nothing
and overwrites nothing).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from raytuner.config.schema import Experiment
from raytuner.errors import ConfigError
from raytuner.files import is_uri
from raytuner.runs.folder import EXPERIMENT_FILE, load_run_experiment
from raytuner.runs.storage import default_storage, localize_run_dir, prepare_storage, ray_run_path


def existing_run(storage: str | Path | None, name: str) -> Path | None:
    """The run folder ``storage/name`` when it already holds a run, else None."""
    storage = default_storage(storage)
    if is_uri(storage):  # a URI run: its refreshed local mirror
        try:
            mirror = localize_run_dir(f"{str(storage).rstrip('/')}/{name}")
        except ConfigError:
            return None
        return mirror if (mirror / EXPERIMENT_FILE).is_file() else None
    run_dir = Path(storage).expanduser().resolve() / name
    return run_dir if run_dir.is_dir() and any(run_dir.iterdir()) else None


def _first_difference(a: Any, b: Any, keys: tuple = ()) -> tuple | None:
    """Keys of the first place where ``a`` and ``b`` differ, or None when equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return (*keys, key)
            found = _first_difference(a[key], b[key], (*keys, key))
            if found:
                return found
        return None
    return None if a == b else keys


def _lookup(data: Any, keys: tuple) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return "<absent>"
        data = data[key]
    return data


def check_same_experiment(run_dir: Path, exp: Experiment, *, source: str | None = None) -> None:
    """``run --resume`` continues the run as saved in its experiment.yaml (the source of truth
    of a run); refuse when the given experiment differs, naming the first different key."""
    saved = load_run_experiment(run_dir).to_dict()
    given = exp.to_dict()
    keys = _first_difference(saved, given)
    if keys is None:
        return
    raise ConfigError(f"differs from the run being resumed ({run_dir / EXPERIMENT_FILE} has "
                      f"{_lookup(saved, keys)!r}, this experiment {_lookup(given, keys)!r}); a "
                      "resumed run keeps its saved experiment: drop the change, use --name for "
                      "a new run, or --overwrite to replace it", source=source,
                      path=".".join(map(str, keys)) or None)


def start_or_resume(exp: Experiment, storage: str | Path | None, name: str, *,
                    overwrite: bool) -> tuple[Path | None, bool]:
    """For ``raytuner run --resume``: ``(run folder to continue, False)`` when a run of the same
    experiment exists (checked) and Ray saved its state; ``(None, True)`` when the folder holds
    the same experiment but no state to resume (stopped before Tune's first save: nothing to
    lose, start it again in place); ``(None, False)`` when there is no such run yet."""
    if overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: --resume continues "
                          "the existing run, --overwrite deletes it; pick one")
    run_dir = existing_run(storage, name)
    if run_dir is None:
        return None, False
    check_same_experiment(run_dir, exp)
    # deferred: Ray is heavy, and only a resume that got this far needs it
    from ray import tune

    if tune.Tuner.can_restore(ray_run_path(run_dir)):
        return run_dir, False
    return None, True


def _exists_error(run_dir: Path) -> ConfigError:
    return ConfigError(f"run folder {run_dir} already exists; use `raytuner resume {run_dir}` "
                       "to continue it, --overwrite to replace it, or --name to pick another name")


def refuse_existing_local_run(storage: str | Path | None, name: str) -> None:
    """ConfigError when the local run folder ``storage/name`` already holds a run.

    Checked before the run folder's lock is taken: a folder that exists is refused as such,
    whether or not another driver still holds it (that one's lock would give the less useful
    "in use" answer). A URI run is checked under its lease, in :func:`prepare_run_dir`.
    """
    if is_uri(default_storage(storage)):
        return
    found = existing_run(storage, name)
    if found is not None:
        raise _exists_error(found)


def prepare_run_dir(storage: str | Path | None, name: str, *, overwrite: bool) -> Path:
    """Create ``storage/name`` for a new run; refuse to replace an existing run unless asked.

    Checked before Ray starts, so bad storage costs nothing and overwrites nothing.
    """
    # Default location, URIs, free space: raytuner.runs.storage (a URI run is prepared there).
    storage, mirror = prepare_storage(storage, name, overwrite=overwrite)
    if mirror is not None:
        return mirror
    storage = Path(storage).expanduser().resolve()
    run_dir = storage / name
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise _exists_error(run_dir)
        shutil.rmtree(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"storage location {storage} is not writable: {exc}") from None
    return run_dir
