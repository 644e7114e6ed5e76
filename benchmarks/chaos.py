"""Chaos soak: a run of many short trials while a helper SIGKILLs random trial workers, at points
spread over the trials' progress, and once the whole driver (then ``raytuner resume``),
bounded in count and time.

``python -m benchmarks chaos`` (``--trials N``, default 100). Not a timed test: it checks that
nothing is lost under faults and records what it injected and what came out:

- exactly ``num_samples`` trials in ``summary.json``, none lost;
- none errored, except a trial whose own failures used up the stated retry budget
  (``failure.max_retries`` = :data:`RETRY_BUDGET`);
- every trial's epochs contiguous, each once (``result.json``) and matching ``summary.json``;
- the best trial's checkpoint loadable.

The outcome goes to ``results/chaos.json`` and ``results/chaos.md``;
``python -m benchmarks.render_results`` puts the table into ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import LoadWatch, Options, Report, markdown_table

REPO = Path(__file__).resolve().parents[1]
#: failure.max_retries of the soak: a trial may end errored only after this many retries
RETRY_BUDGET = 3
#: this many trial workers are killed (the driver once, on top), spread over the run's progress:
#: the k-th once k / (MAX_WORKER_KILLS + 1) of the trials has finished (both drivers together),
#: so a fast run gets as many faults as a slow one
MAX_WORKER_KILLS = 12
#: the whole soak (both drivers) stops after this long, whatever state it is in
TIME_LIMIT_S = 1800.0
#: at least this long between two worker kills (Ray restarts the trial in between)
MIN_KILL_GAP_S = 2.0
#: the driver is killed once this share of the trials has finished
DRIVER_KILL_AT = 0.35


def experiment(trials: int, epochs: int) -> dict[str, Any]:
    """Short trials: a small MLP on the embedded digits, a few epochs, random search."""
    return {
        "name": "chaos", "seed": 0, "data": {"name": "digits"},
        "model": {"name": "mlp", "depth": 1, "width": 32},
        "train": {"epochs": epochs, "batch_size": 128, "optimizer": "adam", "lr": 0.003},
        "search": {"algorithm": "random", "metric": "val_accuracy", "mode": "max",
                   "num_samples": trials, "max_concurrent": 2,
                   "scheduler": {"name": "fifo"},
                   "space": {"train.lr": {"loguniform": [1.0e-3, 3.0e-2]}}},
        "resources": {"cpu": 1, "gpu": 0},
        "checkpoint": {"keep": 2},
        "failure": {"max_retries": RETRY_BUDGET},
    }


# ---------------------------------------------------------------------------------------------
# Processes


def session_pids(sid: int) -> list[int]:
    """Live processes of session ``sid``: a driver started in a session of its own, the Ray it
    started and its trial workers (which Ray puts in process groups of their own, inside the
    driver's session)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def trial_workers(sid: int) -> list[int]:
    """The trial worker processes (Tune's function-trainable actors) of a driver's session."""
    return [pid for pid in session_pids(sid) if "ImplicitFunc" in _cmdline(pid)]


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL a driver and every process of its session (its Ray instance too)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = session_pids(proc.pid)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


def start(args: list[str], log: Path) -> subprocess.Popen:
    """``python -m raytuner ARGS`` in a session of its own, Tune's state saved every second."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    env.pop("RAY_ADDRESS", None)  # a local Ray of its own
    return subprocess.Popen([sys.executable, "-m", "raytuner", *args], cwd=REPO, env=env,
                            stdout=log.open("a"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def finished_trials(run_dir: Path) -> int:
    """Trials Tune's saved state lists as terminated or errored (0 before its first save)."""
    files = sorted(run_dir.glob("experiment_state-*.json"))
    if not files:
        return 0
    try:
        state = json.loads(files[-1].read_text())
    except (OSError, ValueError):
        return 0
    return sum(json.loads(t)["status"] in ("TERMINATED", "ERROR") for t, _ in state["trial_data"])


# ---------------------------------------------------------------------------------------------
# The soak


class Soak:
    """Drives one soak: the run, the kills, the resume; records every fault injected."""

    def __init__(self, folder: Path, trials: int, max_kills: int, time_limit_s: float,
                 seed: int = 0):
        self.folder, self.trials = folder, trials
        self.max_kills, self.time_limit_s = max_kills, time_limit_s
        self.rng = random.Random(seed)
        self.faults: list[dict[str, Any]] = []
        self.log = folder / "drivers.log"
        self.run_dir = folder / "runs" / "chaos"
        self.t0 = time.monotonic()
        self.driver_rc: list[int | None] = []

    def elapsed(self) -> float:
        return round(time.monotonic() - self.t0, 1)

    def _kill_a_worker(self, driver: subprocess.Popen) -> bool:
        """SIGKILL one of the driver's trial workers, chosen at random; False if none was."""
        workers = trial_workers(driver.pid)
        if not workers:
            return False
        pid = self.rng.choice(workers)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.faults.append({"t_s": self.elapsed(), "kind": "worker SIGKILL", "pid": pid,
                            "finished_trials": finished_trials(self.run_dir)})
        return True

    def worker_kill_due(self, finished: int) -> bool:
        """Whether the next worker kill is due once ``finished`` trials have finished."""
        killed = sum(f["kind"] == "worker SIGKILL" for f in self.faults)
        return (killed < self.max_kills
                and finished >= (killed + 1) * self.trials / (self.max_kills + 1))

    def _drive(self, driver: subprocess.Popen, *, kill_driver: bool) -> bool:
        """Inject faults until the driver ends (True) or is killed / out of time (False)."""
        last_kill = 0.0
        while driver.poll() is None:
            if time.monotonic() - self.t0 > self.time_limit_s:
                kill_session(driver)
                self.faults.append({"t_s": self.elapsed(), "kind": "time limit: stopped"})
                return False
            finished = finished_trials(self.run_dir)
            if kill_driver and finished >= DRIVER_KILL_AT * self.trials:
                kill_session(driver)
                self.faults.append({"t_s": self.elapsed(), "kind": "driver SIGKILL (session)",
                                    "pid": driver.pid, "finished_trials": finished})
                return False
            # no worker alive (between two trials): _kill_a_worker is False, tried next round
            if (self.worker_kill_due(finished)
                    and time.monotonic() - last_kill >= MIN_KILL_GAP_S
                    and self._kill_a_worker(driver)):
                last_kill = time.monotonic()
            time.sleep(0.2)
        self.driver_rc.append(driver.returncode)
        return True

    def run(self, exp_file: Path) -> None:
        first = start(["run", str(exp_file), "--storage", str(self.folder / "runs")], self.log)
        if self._drive(first, kill_driver=True):
            return  # finished before the driver kill (too few trials to reach it)
        self.driver_rc.append(first.returncode)
        if time.monotonic() - self.t0 > self.time_limit_s:
            return
        second = start(["resume", str(self.run_dir)], self.log)
        self._drive(second, kill_driver=False)


# ---------------------------------------------------------------------------------------------
# Checking the outcome


def _epochs(trial_dir: Path) -> list[int]:
    path = trial_dir / "result.json"
    if not path.is_file():
        return []
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines() if line]


def check_outcome(run_dir: Path, trials: int) -> dict[str, Any]:
    """What the run folder says after the soak, and every check's verdict."""
    summary_file = run_dir / "summary.json"
    if not summary_file.is_file():
        return {"summary_written": False, "ok": False}
    summary = json.loads(summary_file.read_text())
    from ray.tune import ExperimentAnalysis

    from raytuner.trial.checkpoint import load_state

    failures = {t.trial_id: t.run_metadata.num_failures
                for t in ExperimentAnalysis(str(run_dir)).trials}
    statuses: dict[str, int] = {}
    bad_epochs, errored_within_budget = [], []
    for trial in summary["trials"]:
        statuses[trial["status"]] = statuses.get(trial["status"], 0) + 1
        epochs = _epochs(Path(trial["path"]))
        if epochs != list(range(1, len(epochs) + 1)) or len(epochs) != trial["epochs"]:
            bad_epochs.append({"trial": trial["trial_id"], "epochs": epochs})
        if trial["status"] == "errored" and failures.get(trial["trial_id"], 0) <= RETRY_BUDGET:
            errored_within_budget.append(trial["trial_id"])
    best = summary.get("best") or {}
    loadable = False
    with contextlib.suppress(Exception):
        loadable = load_state(best["checkpoint"])["epoch"] >= 1
    retried = {k: v for k, v in failures.items() if v}
    outcome = {
        "summary_written": True, "num_trials": summary["num_trials"], "expected": trials,
        "statuses": statuses, "trials_retried": len(retried),
        "retries_total": sum(retried.values()), "max_retries_one_trial": max(
            retried.values(), default=0),
        "errored_within_budget": errored_within_budget, "non_contiguous_epochs": bad_epochs,
        "epochs_total": sum(t["epochs"] for t in summary["trials"]),
        "best_trial": best.get("trial_id"), "best_value": best.get("best"),
        "best_checkpoint_loadable": loadable,
    }
    outcome["ok"] = (outcome["num_trials"] == trials and not errored_within_budget
                     and not bad_epochs and loadable)
    return outcome


# ---------------------------------------------------------------------------------------------
# Report


def _markdown(data: dict[str, Any]) -> str:
    out, faults = data["outcome"], data["faults"]
    kinds: dict[str, int] = {}
    for fault in faults:
        kinds[fault["kind"]] = kinds.get(fault["kind"], 0) + 1
    lines = [
        f"{data['trials']} trials of {data['epochs']} epochs, "
        f"2 at a time, retry budget `failure.max_retries: {RETRY_BUDGET}`; "
        f"{data['max_worker_kills']} worker kills spread over the trials' progress (the k-th "
        f"once k/{data['max_worker_kills'] + 1} of the trials finished) and one driver kill at "
        f"{DRIVER_KILL_AT:.0%} of them, {data['time_limit_s']:.0f} s limit. Wall time "
        f"{data['wall_s']:.0f} s; {data['load']}.",
        "",
        markdown_table(["fault injected", "count"], sorted(kinds.items())),
        "",
    ]
    if not out.get("summary_written"):
        lines.append("**Outcome: no summary.json was written (the resumed run did not finish).**")
        return "\n".join(lines)
    rows = [
        ["trials in summary.json (expected)", f"{out['num_trials']} ({out['expected']})"],
        ["statuses", ", ".join(f"{k} {v}" for k, v in sorted(out["statuses"].items()))],
        ["trials retried / retries in all / most by one trial",
         f"{out['trials_retried']} / {out['retries_total']} / {out['max_retries_one_trial']}"],
        ["errored without using up the retry budget", len(out["errored_within_budget"])],
        ["trials whose epochs are not 1..n, each once", len(out["non_contiguous_epochs"])],
        ["epochs trained (summary.json)", out["epochs_total"]],
        ["best trial / val_accuracy", f"{out['best_trial']} / {out['best_value']}"],
        ["best trial's checkpoint loadable", out["best_checkpoint_loadable"]],
        ["driver exit codes (first, resumed)", ", ".join(map(str, data["driver_rc"]))],
        ["**all checks pass**", f"**{out['ok']}**"],
    ]
    lines.append(markdown_table(["outcome", "value"], rows))
    return "\n".join(lines)


def run(opts: Options) -> Report:
    """Run the soak (``--trials N``; ``--smoke``: 6 trials, 2 kills) and report it."""
    trials = int(opts.extra.get("trials") or (6 if opts.smoke else 100))
    epochs = 2 if opts.smoke else 3
    max_kills = 2 if opts.smoke else MAX_WORKER_KILLS
    folder = Path(tempfile.mkdtemp(prefix="raytuner-chaos-"))
    exp_file = folder / "chaos.yaml"
    exp_file.write_text(yaml.safe_dump(experiment(trials, epochs), sort_keys=False))
    soak = Soak(folder, trials, max_kills, TIME_LIMIT_S)
    with LoadWatch() as load:
        soak.run(exp_file)
    outcome = check_outcome(soak.run_dir, trials)
    data = {"command": opts.command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "trials": trials, "epochs": epochs, "max_worker_kills": max_kills,
            "time_limit_s": TIME_LIMIT_S, "retry_budget": RETRY_BUDGET,
            "wall_s": soak.elapsed(), "load": load.text(), **load.as_dict(),
            "faults": soak.faults, "driver_rc": soak.driver_rc, "outcome": outcome,
            "run_dir": str(soak.run_dir)}
    markdown = _markdown(data)
    return Report("chaos", "Chaos soak: killed workers, a killed driver, nothing lost",
                  markdown, data=data)
