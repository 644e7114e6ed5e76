"""A disk that fills up during a checkpoint: a real 8 MiB tmpfs mounted for the test holds the
run folder, a driver-side callback fills it after epoch 3, and the checkpoint of epoch 4 meets a
real ENOSPC. The trial fails naming the folder and its free space, nothing half-written is left
(no checkpoint, no truncated Ray state file), the previous checkpoint stays loadable, and the run
resumes once space is freed, each epoch recorded once.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, tiny_experiment
from ray import tune

import raytuner
from raytuner.config import validate_experiment
from raytuner.errors import RaytunerError
from raytuner.runs import storage
from raytuner.trial.checkpoint import load_state

pytestmark = pytest.mark.slow

os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
DISK_MIB = 8


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """An 8 MiB tmpfs mounted at ``tmp_path/disk`` (needs root, as the test machines run)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(disk)],
                   check=True)
    try:
        yield disk
    finally:
        _stop_topping()  # a failed test may not have reached the point where it stops
        subprocess.run(["umount", "-l", str(disk)], check=False)


class FillDiskAfter(tune.Callback):
    """Driver-side: once the result of ``epoch`` arrived (its checkpoint already on storage),
    fill the disk holding ``filler`` to the last byte, once (``marker``, off that disk, says
    it was done: Tune restores its callbacks on resume)."""

    def __init__(self, filler: Path, marker: Path, epoch: int):
        self.filler, self.marker, self.epoch = filler, marker, epoch
        self.errors: list[str] = []

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.errors.append(Path(trial.error_file).read_text())

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if self.marker.exists() or result["epoch"] != self.epoch:
            return
        self.marker.write_text("filled\n")
        _fill(self.filler)
        # Ray frees space on that disk afterwards (old checkpoints past checkpoint.keep, its
        # staged uploads): keep it full until the test frees it, so every later write meets
        # ENOSPC whatever the sizes. A module-level thread: Tune pickles its callbacks.
        topper = threading.Thread(target=_keep_full, args=(self.filler,), daemon=True)
        _TOPPERS.append(topper)
        topper.start()


_STOP_TOPPING = threading.Event()
_TOPPERS: list[threading.Thread] = []


def _fill(path: Path) -> None:
    """Append to ``path`` until its disk has no byte left (unbuffered: nothing left to flush)."""
    with contextlib.suppress(OSError), path.open("ab", buffering=0) as out:
        while True:
            out.write(b"\0" * (64 << 10))


def _keep_full(path: Path) -> None:
    while not _STOP_TOPPING.wait(0.02):
        _fill(path)


def _stop_topping() -> None:
    _STOP_TOPPING.set()
    for topper in _TOPPERS:
        topper.join()


def _epochs(trial_dir: Path) -> list[int]:
    return [json.loads(line)["epoch"]
            for line in (trial_dir / "result.json").read_text().splitlines() if line]


def test_full_disk_during_a_checkpoint_fails_clearly_and_resumes_once_freed(
        ray_session, small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(storage.ENV_MIN_FREE, "0.001")  # the 8 MiB disk is the point
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "1")  # Tune's state saved every second
    raw = tiny_experiment(**{
        "name": "full", "train.epochs": 5, "train.batch_size": 256,
        "model": {"name": "tests.faulty:factory", "hidden": 16, "epoch_sleep_s": 1.0},
        "search.num_samples": 1, "search.algorithm": "random", "search.space": {},
        "search.scheduler": {"name": "fifo"}, "failure.max_retries": 1})
    filler = small_disk / "filler.bin"
    run_dir = small_disk / "runs" / "full"
    filler_callback = FillDiskAfter(filler, small_disk.parent / "filled", epoch=3)
    with contextlib.suppress(RaytunerError):  # Tune's own state may not fit either
        raytuner.run(validate_experiment(raw), storage=small_disk / "runs",
                     callbacks=[filler_callback])
    assert filler.stat().st_size > 0
    [trial_dir] = sorted(run_dir.glob("trial_*"))
    # The full disk has no room for the trial's error.txt either: the copy Tune keeps in the
    # driver's staging folder (the "Error file:" it prints) is what the user reads.
    output = "".join(filler_callback.errors)
    assert (f"CheckpointError: no space left on device while saving the checkpoint of epoch 4 "
            f"to {trial_dir} (0.0 MiB free of {DISK_MIB:.1f} MiB)") in output, output[-3000:]
    assert "free some space, then continue the run with `raytuner resume`" in output
    # nothing half-written: every checkpoint folder left is whole and checked; epoch 2's loads
    checkpoints = sorted(trial_dir.glob("checkpoint_*"))
    states = [load_state(folder) for folder in checkpoints]
    assert states and states[-1]["epoch"] == 3, [s["epoch"] for s in states]
    assert not list(small_disk.rglob(".raytuner-upload-*"))  # no staged upload left over
    # Ray's own files whole (a failed sync keeps the old ones), the trial's results in them
    for path in run_dir.glob("experiment_state-*.json"):
        json.loads(path.read_text())
    assert (run_dir / "tuner.pkl").stat().st_size > 0
    assert _epochs(trial_dir) in ([], [1], [1, 2], [1, 2, 3])  # what had synced: a prefix

    _stop_topping()
    filler.unlink()  # space freed: the run resumes from the last checkpoint Tune saved
    result = raytuner.resume(run_dir)
    [trial] = result.summary["trials"]
    assert trial["status"] == "completed" and trial["epochs"] == 5
    assert _epochs(trial_dir) == [1, 2, 3, 4, 5]
