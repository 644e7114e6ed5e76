"""Reliability end to end: the real `raytuner` command killed, interrupted and resumed; trials
that crash, run out of memory, diverge or find their checkpoint corrupt.

The misbehaving model is tests/faulty.py, loaded by import path like any user model.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, run_cli, tiny_experiment, write_yaml

from benchmarks.chaos import session_pids as _session_pids

pytestmark = pytest.mark.slow

# Ray workers import the user model `tests.faulty` by import path: they need the repo root.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
FAULTY = "tests.faulty:factory"


def _slow_experiment(name: str, gate: Path, **changes: Any) -> dict[str, Any]:
    """Trials of a small MLP whose epochs take a second and that wait at the start of epoch 3
    until the file ``gate`` exists: a test acts on a run certainly still running there."""
    return tiny_experiment(**{
        "name": name, "model": {"name": FAULTY, "hidden": 16, "epoch_sleep_s": 1.0,
                                "fault": "gate", "at_epoch": 3, "gate_file": str(gate)},
        "search.algorithm": "random", "search.scheduler": {"name": "fifo"},
        "search.space": {"train.lr": {"loguniform": [1.0e-3, 1.0e-2]}},
        "train.batch_size": 256, **changes})


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """Start `python -m raytuner ARGS` in its own session (so the driver and the Ray it starts
    can be signalled together, and nothing else), saving Tune's state every second."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    return subprocess.Popen([sys.executable, "-m", "raytuner", *args], cwd=REPO, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the driver's process group and every other process of its session."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _session_pids(proc.pid) and time.monotonic() < deadline:
        for pid in _session_pids(proc.pid):
            with contextlib.suppress(ProcessLookupError):  # ended with its group
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


def _trial_states(run_dir: Path) -> list[dict[str, Any]]:
    """Tune's saved view of every trial: id, status and last result (empty before any save)."""
    files = sorted(run_dir.glob("experiment_state-*.json"))
    if not files:
        return []
    try:
        state = json.loads(files[-1].read_text())
    except (OSError, ValueError):  # being replaced right now: read it next time
        return []
    trials = []
    for trial_json, meta_json in state["trial_data"]:
        trial, meta = json.loads(trial_json), json.loads(meta_json)
        trials.append({"id": trial["trial_id"], "status": trial["status"],
                       "dir": run_dir / trial["relative_logdir"],
                       "last": meta.get("last_result") or {}})
    return trials


def _wait_for(proc: subprocess.Popen, log: Path, check: Callable[[], Any],
              timeout: float = 420) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if proc.poll() is not None:
            pytest.fail(f"run ended (rc {proc.returncode}) before the moment to stop it:\n"
                        + log.read_text()[-3000:])
        time.sleep(0.2)
    _kill_session(proc)
    pytest.fail("the run never reached the moment to stop it:\n" + log.read_text()[-3000:])


def _epochs(trial_dir: Path) -> list[int]:
    """Epochs of every result Tune recorded for a trial, in order (result.json lines)."""
    path = trial_dir / "result.json"
    if not path.is_file():
        return []
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines() if line]


def test_driver_killed_mid_run_is_resumed_from_checkpoints(tmp_path: Path) -> None:
    # One short trial finishes while two long ones are still training when the driver dies.
    gate = tmp_path / "gate"
    exp = _slow_experiment("crash", gate, **{
        "search.num_samples": 3, "search.max_concurrent": 2, "train.epochs": 6,
        "search.space": {"train.epochs": {"choice": [2, 6]}},
        "search.points_to_evaluate": [{"train.epochs": 2}, {"train.epochs": 6},
                                      {"train.epochs": 6}]})
    path = write_yaml(tmp_path / "crash.yaml", exp)
    storage, log = tmp_path / "runs", tmp_path / "run.log"
    run_dir = storage / "crash"
    proc = _start(["run", str(path), "--storage", str(storage)], log)

    def completed_and_checkpointed():
        # the short trial finished; both long ones checkpointed epoch 2 and wait at the gate
        trials = _trial_states(run_dir)
        done = [t for t in trials if t["status"] == "TERMINATED"]
        running = [t for t in trials if t["status"] == "RUNNING"
                   and t["last"].get("checkpoint_dir_name") and t["last"].get("epoch") == 2]
        return (done, running) if len(done) == 1 and len(running) == 2 else None

    done, running = _wait_for(proc, log, completed_and_checkpointed)
    # One driver per run folder: a second one, resuming or overwriting, is refused in a line.
    for args in (["resume", str(run_dir)], ["run", str(path), "--storage", str(storage),
                                            "--overwrite"]):
        second = run_cli(*args, timeout=120)
        assert second.returncode == 2, second.stdout[-2000:] + second.stderr[-2000:]
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"in use by pid {proc.pid} on host" in lines[0], lines
    assert (run_dir / "experiment.yaml").is_file()  # --overwrite deleted nothing
    _kill_session(proc)
    gate.write_text("open\n")
    assert proc.returncode == -signal.SIGKILL
    assert not _session_pids(proc.pid), "a process of the killed run survived"
    assert not (run_dir / "summary.json").exists()
    finished_results = {t["id"]: (t["dir"] / "result.json").read_bytes() for t in done}
    epochs_at_kill = {t["id"]: t["last"]["epoch"] for t in running}

    path.unlink()  # the run folder's experiment.yaml is what resume uses
    result = run_cli("resume", str(run_dir), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (f"locked by pid {proc.pid} on host" in result.stdout
            and "which is no longer running; taking it over" in result.stdout), result.stdout

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["num_trials"] == 3
    trials = {t["trial_id"]: t for t in summary["trials"]}
    assert all(t["status"] == "completed" for t in trials.values()), trials
    for trial_id, before in finished_results.items():  # finished trials were not rerun
        assert (run_dir / f"trial_{trial_id}" / "result.json").read_bytes() == before
        assert trials[trial_id]["epochs"] == 2
    for trial_id, epoch in epochs_at_kill.items():
        epochs = _epochs(run_dir / f"trial_{trial_id}")
        assert epochs.count(1) == 1, f"{trial_id} restarted from scratch: {epochs}"
        assert epochs == list(range(1, 7)), epochs  # each epoch once, even if replayed
        assert trials[trial_id]["epochs"] == 6
        assert epoch == 2


def test_ctrl_c_stops_gracefully_and_run_resume_finishes(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    exp = _slow_experiment("ctrlc", gate, **{"search.num_samples": 2,
                                             "search.max_concurrent": 2, "train.epochs": 5})
    path = write_yaml(tmp_path / "ctrlc.yaml", exp)
    storage, log = tmp_path / "runs", tmp_path / "run.log"
    run_dir = (storage / "ctrlc").resolve()
    proc = _start(["run", str(path), "--storage", str(storage)], log)
    _wait_for(proc, log, lambda: any(t["last"].get("checkpoint_dir_name")
                                     for t in _trial_states(run_dir)))
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    try:
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            _kill_session(proc)
    out = log.read_text()
    assert proc.returncode == 130, out[-3000:]
    # The driver's own last line is the hint. Ray's log monitor forwards the workers' output
    # ("(run_trial pid=...) ...", their shutdown noise after Ctrl-C) asynchronously, so such
    # lines can land after it; they are not the driver's (issue 14 silences them).
    own = [line for line in out.strip().splitlines() if "(run_trial pid=" not in line]
    assert f"raytuner resume {run_dir}`" in own[-1], out[-3000:]
    assert not (run_dir / "summary.json").exists()
    states = _trial_states(run_dir)
    assert states and any(t["status"] != "TERMINATED" for t in states), states
    gate.write_text("open\n")

    # `run --resume` continues the interrupted run of that name (the same experiment).
    result = run_cli("run", str(path), "--storage", str(storage), "--resume", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["num_trials"] == 2
    assert all(t["status"] == "completed" and t["epochs"] == 5 for t in summary["trials"])
    for trial in summary["trials"]:
        assert _epochs(Path(trial["path"])).count(1) == 1


# ---------------------------------------------------------------------------------------------
# Trials that fail, diverge or find a corrupt checkpoint: one run, five trials


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("faults")
    storage = tmp / "runs"
    run_dir = storage / "faults"
    (tmp / "markers").mkdir()
    points = [{"model.fault": "once", "model.error": "oom", "model.at_epoch": 3},
              {"model.fault": "always", "model.error": "runtime", "model.at_epoch": 1},
              {"model.fault": "nan", "model.error": "runtime", "model.at_epoch": 2},
              {"model.fault": "explode", "model.error": "runtime", "model.at_epoch": 3},
              {"model.fault": "corrupt", "model.error": "runtime", "model.at_epoch": 3}]
    exp = tiny_experiment(**{
        "name": "faults",
        "model": {"name": FAULTY, "hidden": 16, "marker_dir": str(tmp / "markers"),
                  "run_dir": str(run_dir)},
        "train.epochs": 4, "train.batch_size": 256, "failure.max_retries": 1,
        "search.algorithm": "random", "search.num_samples": len(points),
        "search.scheduler": {"name": "fifo"}, "search.points_to_evaluate": points,
        "search.space": {"model.fault": {"choice": [p["model.fault"] for p in points]},
                         "model.error": {"choice": ["runtime", "oom"]},
                         "model.at_epoch": {"choice": [1, 2, 3]}}})
    path = write_yaml(tmp / "faults.yaml", exp)
    result = run_cli("run", str(path), "--storage", str(storage), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    from ray.tune import ExperimentAnalysis

    summary = json.loads((run_dir / "summary.json").read_text())
    trials = {t["config"]["model.fault"]: t for t in summary["trials"]}
    failures = {t.config["model.fault"]: t.run_metadata.num_failures
                for t in ExperimentAnalysis(str(run_dir)).trials}
    # Workers' output stays off the screen; the run folder keeps Ray's logs (raytuner.runs.quiet).
    worker_logs = "".join(p.read_text(errors="replace")
                          for p in (run_dir / "logs" / "ray-session").glob("worker-*"))
    return {"summary": summary, "trials": trials, "failures": failures,
            "stdout": result.stdout, "output": result.stdout + result.stderr,
            "worker_logs": worker_logs, "markers": tmp / "markers"}


def test_failed_trial_retries_from_its_checkpoint_and_completes(faults) -> None:
    trial = faults["trials"]["once"]  # out of memory at epoch 3, once
    assert (faults["markers"] / "once-oom.marker").is_file()  # the failure did happen
    assert faults["failures"]["once"] == 1
    assert trial["status"] == "completed" and trial["epochs"] == 4
    assert _epochs(Path(trial["path"])) == [1, 2, 3, 4]  # epochs 1-2 not repeated


def test_trial_failing_every_time_ends_errored_with_its_traceback_listed(faults) -> None:
    trial = faults["trials"]["always"]
    assert trial["status"] == "errored"
    assert faults["failures"]["always"] == 2  # the first try and failure.max_retries=1 retry
    error_file = Path(trial["error_file"])
    assert "injected failure" in error_file.read_text()
    assert "1 errored trial(s)" in faults["stdout"]
    assert f"{trial['trial_id']} after 0 epoch(s): {error_file}" in faults["stdout"]
    assert faults["summary"]["num_trials"] == 5  # the experiment went on


@pytest.mark.parametrize("fault, epoch", [("nan", 2), ("explode", 3)])
def test_diverged_trial_stops_at_once_as_the_worst_result(faults, fault: str, epoch: int
                                                           ) -> None:
    trial = faults["trials"][fault]
    assert trial["status"] == "diverged"
    assert trial["epochs"] == epoch
    assert faults["failures"][fault] == 0  # a result, not an error: no retry burned
    lines = (Path(trial["path"]) / "result.json").read_text().splitlines()
    last = json.loads(lines[-1])
    assert last["diverged"] == 1.0 and last["epoch"] == epoch
    assert last["val_accuracy"] == 0.0  # the worst value, what searcher and scheduler see
    assert len(lines) == epoch  # stopped at once
    assert "2 diverged trial(s)" in faults["stdout"]


def test_corrupt_checkpoint_falls_back_to_the_previous_one(faults) -> None:
    trial = faults["trials"]["corrupt"]
    assert (faults["markers"] / "corrupt-runtime.marker").is_file()
    assert trial["status"] == "completed"
    # checkpoint of epoch 2 truncated: resumed from epoch 1's, so epoch 2 ran twice; its
    # first report is the one recorded (as in TensorBoard), each epoch once
    assert _epochs(Path(trial["path"])) == [1, 2, 3, 4]
    # the trial's log, kept in the run folder, says what it did
    assert "corrupt or truncated" in faults["worker_logs"]
    assert "resuming from the earlier checkpoint" in faults["worker_logs"]


def test_killed_pbt_run_resumes_the_same_population(tmp_path: Path) -> None:
    # Two trials copying each other every 2 epochs; the first attempt of each waits at epoch 3.
    gate = tmp_path / "gate"
    exp = _slow_experiment("pbt-crash", gate, **{
        "search.num_samples": 2, "search.max_concurrent": 2, "train.epochs": 6,
        "search.scheduler": {"name": "pbt", "perturbation_interval": 2,
                             "quantile_fraction": 0.5}})
    path = write_yaml(tmp_path / "pbt.yaml", exp)
    storage, log = tmp_path / "runs", tmp_path / "run.log"
    run_dir = storage / "pbt-crash"
    proc = _start(["run", str(path), "--storage", str(storage)], log)

    def both_checkpointed():
        trials = [t for t in _trial_states(run_dir) if t["status"] == "RUNNING"
                  and t["last"].get("checkpoint_dir_name") and t["last"].get("epoch") == 2]
        return trials if len(trials) == 2 else None

    population = {t["id"] for t in _wait_for(proc, log, both_checkpointed)}
    _kill_session(proc)
    gate.write_text("open\n")
    assert not (run_dir / "summary.json").exists()

    result = run_cli("resume", str(run_dir), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    trials = {t["trial_id"]: t for t in summary["trials"]}
    assert set(trials) == population  # the same population went on, none started anew
    for trial_id, trial in trials.items():
        assert trial["status"] == "completed" and trial["epochs"] == 6, trial
        assert _epochs(Path(trial["path"])).count(1) == 1, f"{trial_id} restarted from scratch"
        assert isinstance(trial["lineage"], list)


def test_failed_pbt_trial_retries_from_its_last_checkpoint(tmp_path: Path) -> None:
    # The first trial to start its 3rd epoch (of an attempt) fails once; pbt runs around it.
    (tmp_path / "markers").mkdir()
    exp = tiny_experiment(**{
        "name": "pbt-retry", "model": {"name": FAULTY, "hidden": 16, "fault": "once",
                                       "at_epoch": 3, "marker_dir": str(tmp_path / "markers")},
        "train.epochs": 6, "train.batch_size": 256, "failure.max_retries": 1,
        "search.algorithm": "random", "search.num_samples": 2,
        "search.scheduler": {"name": "pbt", "perturbation_interval": 2},
        "search.space": {"train.lr": {"loguniform": [1.0e-3, 1.0e-2]}}})
    path = write_yaml(tmp_path / "retry.yaml", exp)
    result = run_cli("run", str(path), "--storage", str(tmp_path / "runs"), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "markers" / "once-runtime.marker").is_file()  # it did fail
    run_dir = tmp_path / "runs" / "pbt-retry"
    from ray.tune import ExperimentAnalysis

    failures = {t.trial_id: t.run_metadata.num_failures
                for t in ExperimentAnalysis(str(run_dir)).trials}
    assert sorted(failures.values()) == [0, 1]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert len(summary["trials"]) == 2  # the retry is the same trial, no new one
    assert all(t["status"] == "completed" and t["epochs"] == 6 for t in summary["trials"])
    # Not asserted here: the failed trial's result.json as proof that no epoch ran twice. Under
    # pbt, Tune's JSON logger once left only the last result in it after a pause and restore.
