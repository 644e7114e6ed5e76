"""One status word per trial, the same in the summary and the TensorBoard view: a Hyperband
trial left PAUSED at max_t is completed in both."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pyarrow.fs
from conftest import tiny_experiment
from tb_helpers import load, scalars, sessions

from raytuner.config import validate_experiment
from raytuner.tensorboard import layout
from raytuner.tensorboard.callback import TensorBoardCallback
from raytuner.trial.status import FINAL_STATUSES, trial_status


def test_status_rules() -> None:
    assert trial_status("TERMINATED", {"epoch": 3}, 3) == "completed"
    assert trial_status("PAUSED", {"epoch": 3}, 3) == "completed"  # Hyperband at max_t
    assert trial_status("TERMINATED", {"epoch": 1}, 3) == "stopped"
    assert trial_status("ERROR", {"epoch": 1}, 3) == "errored"
    assert trial_status("ERROR", {"epoch": 1, "diverged": 1.0}, 3) == "diverged"
    assert trial_status("PAUSED", {"epoch": 1}, 3) == "pending"  # waits to continue
    assert trial_status("PENDING", {"epoch": 1}, 3) == "running"  # state older than results
    assert trial_status("PENDING", None, 3) == "pending"
    assert set(layout.STATUS_CODES) == set(FINAL_STATUSES)


def _trial(trial_id: str, status: str, epoch: int, run_dir: Path) -> SimpleNamespace:
    storage = SimpleNamespace(storage_filesystem=pyarrow.fs.LocalFileSystem(),
                              experiment_fs_path=str(run_dir))
    return SimpleNamespace(trial_id=trial_id, status=status, config={"train.lr": 0.01},
                           last_result={"epoch": epoch, "val_accuracy": 0.5}, storage=storage)


def test_a_trial_paused_at_max_t_is_completed_in_tensorboard(tmp_path: Path) -> None:
    exp = validate_experiment(tiny_experiment(**{
        "search.space": {"train.lr": {"loguniform": [1e-3, 1e-1]}}}))
    callback = TensorBoardCallback(exp)
    callback.setup()
    paused = _trial("t1", "PAUSED", exp.train.epochs, tmp_path)
    waiting = _trial("t2", "PAUSED", 1, tmp_path)
    for trial in (paused, waiting):
        callback.on_trial_start(0, [], trial)
        for epoch in range(1, trial.last_result["epoch"] + 1):
            callback.on_trial_result(0, [], trial, {"epoch": epoch, "val_accuracy": 0.5})
    callback.on_experiment_end([paused, waiting])
    mux = load(tmp_path / "tensorboard")
    found = sessions(mux)
    assert scalars(mux, found["t1"]["run"], layout.STATUS_TAG)[-1][1] == \
        layout.STATUS_CODES["completed"]
    # the other trial has no final status yet: it is still running
    assert layout.STATUS_TAG not in mux.Runs()[found["t2"]["run"]]["tensors"]
