"""Trial workers that die: a worker SIGKILLed mid-epoch retries its trial from the last
checkpoint, and a trial that is handed a reused worker which had died meanwhile is not charged
for it (a real local Ray, real processes killed with SIGKILL by a driver-side callback).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, tiny_experiment
from ray import tune
from tb_helpers import all_series, load, scalars

import raytuner
from raytuner.config import validate_experiment
from raytuner.tensorboard import layout

pytestmark = pytest.mark.slow

# Ray workers import the user model `tests.faulty` by import path: they need the repo root.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)


def kill_and_wait(pid: int, timeout: float = 30.0) -> None:
    """SIGKILL ``pid`` and return once the process is gone (or a zombie)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    stat = Path(f"/proc/{pid}/stat")
    while time.monotonic() < deadline:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return
        except (FileNotFoundError, ProcessLookupError):
            return
        time.sleep(0.05)
    raise AssertionError(f"worker {pid} survived SIGKILL for {timeout} s")


def leave_stale_copy(trial: Any) -> None:
    """Put the trial's ``result.json`` and ``progress.csv`` in the run folder back to what
    Ray's periodic copy of the driver's staging folder (every 10 s or more) holds when the
    trial fails soon after one: every epoch but the last. Ray's loggers copied that back over
    the staging files when the trial restarted, losing the last epoch (seen in CI)."""
    for name in ("result.json", "progress.csv"):
        lines = Path(trial.local_path, name).read_text().splitlines(keepends=True)
        Path(trial.path, name).write_text("".join(lines[:-1]))


class KillWorkers(tune.Callback):
    """Driver-side: kill the first trial's worker once mid-epoch (right after the result of
    ``mid_epoch_after`` reached the driver, while the next epoch runs, and the run folder's
    copy of its result files lags one epoch behind), then kill that trial's worker again the
    moment the trial completes, while Tune caches it for the next trial."""

    def __init__(self, mid_epoch_after: int = 2):
        self.mid_epoch_after = mid_epoch_after
        self.victim: str | None = None
        self.killed: list[tuple[str, str, int]] = []

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if self.victim is None and result["epoch"] == self.mid_epoch_after:
            self.victim = trial.trial_id
            leave_stale_copy(trial)  # the loggers (earlier callbacks) have this epoch
            kill_and_wait(result["pid"])
            self.killed.append(("mid-epoch", trial.trial_id, result["pid"]))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id == self.victim and not any(k[0] == "cached" for k in self.killed):
            pid = trial.last_result["pid"]
            kill_and_wait(pid)  # idle now: Tune is about to hand it to the next trial
            self.killed.append(("cached", trial.trial_id, pid))


@pytest.fixture(scope="module")
def killed_run(ray_session, tmp_path_factory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("workers")
    # One trial at a time, so the first trial's worker is the one reused by the second.
    raw = tiny_experiment(**{
        "name": "workers", "train.epochs": 4, "train.batch_size": 256,
        "model": {"name": "tests.faulty:factory", "hidden": 16, "epoch_sleep_s": 1.0},
        "search.num_samples": 3, "search.max_concurrent": 1, "search.n_initial_points": 3,
        "search.scheduler": {"name": "fifo"}, "failure.max_retries": 2,
        # Ray copies the staging folder to the run folder only at the start and the end
        # (env below), and not every `keep` checkpoints: the stale copy stays until the retry.
        "checkpoint.keep": 10_000,
        "search.space": {"train.lr": {"loguniform": [1.0e-3, 1.0e-2]}}})
    killer = KillWorkers()
    logger = logging.getLogger("raytuner.ray_compat")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    period = os.environ.get("TUNE_GLOBAL_CHECKPOINT_S")
    os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = "3600"  # read by the driver's TuneController
    try:
        result = raytuner.run(validate_experiment(raw), storage=tmp / "runs",
                              callbacks=[killer])
    finally:
        logger.removeHandler(handler)
        if period is None:
            os.environ.pop("TUNE_GLOBAL_CHECKPOINT_S")
        else:
            os.environ["TUNE_GLOBAL_CHECKPOINT_S"] = period
    from ray.tune import ExperimentAnalysis

    failures = {t.trial_id: t.run_metadata.num_failures
                for t in ExperimentAnalysis(str(result.run_dir)).trials}
    return {"result": result, "killed": killer.killed, "failures": failures,
            "log": [r.getMessage() for r in records]}


def _epochs(trial_dir: Path) -> list[int]:
    lines = (trial_dir / "result.json").read_text().splitlines()
    return [json.loads(line)["epoch"] for line in lines if line]


def _csv_epochs(trial_dir: Path) -> list[int]:
    with (trial_dir / "progress.csv").open(newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def test_worker_killed_mid_epoch_retries_from_its_checkpoint_each_epoch_once(killed_run
                                                                              ) -> None:
    assert [k[0] for k in killed_run["killed"]] == ["mid-epoch", "cached"]
    victim = killed_run["killed"][0][1]
    summary = killed_run["result"].summary
    trials = {t["trial_id"]: t for t in summary["trials"]}
    assert killed_run["failures"][victim] == 1  # the kill cost one retry
    assert trials[victim]["status"] == "completed" and trials[victim]["epochs"] == 4
    mux = load(killed_run["result"].run_dir / "tensorboard")
    for series, steps in all_series(mux).items():
        assert len(steps) == len(set(steps)), f"duplicate steps in {series}: {steps}"
    for trial_id, trial in trials.items():  # every trial: epochs 1-4, each exactly once
        assert _epochs(Path(trial["path"])) == [1, 2, 3, 4], trial_id
        assert _csv_epochs(Path(trial["path"])) == [1, 2, 3, 4], trial_id
        assert trial["epochs"] == 4
        run = next(r for r in mux.Runs() if trial_id in r)
        steps = [s for s, _ in scalars(mux, run, layout.metric_tag("val_accuracy"))]
        assert steps == [1, 2, 3, 4], (trial_id, steps)


def test_trial_handed_a_dead_reused_worker_is_not_charged(killed_run) -> None:
    # Seen before the fix: the next trial got the dead cached worker, failed twice in the same
    # second on its pid and ended errored with 0 epochs, never having trained.
    victim = killed_run["killed"][0][1]
    summary = killed_run["result"].summary
    assert summary["num_trials"] == 3
    others = [t for t in summary["trials"] if t["trial_id"] != victim]
    assert len(others) == 2
    for trial in others:
        assert trial["status"] == "completed", trial
        assert killed_run["failures"][trial["trial_id"]] == 0
        assert not trial.get("error_file")
    assert any("had died" in line for line in killed_run["log"]), killed_run["log"]
