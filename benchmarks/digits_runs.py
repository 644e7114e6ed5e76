"""Runs of the default digits experiment through the Python API with an epoch ledger, shared by
B4 (logging overhead) and the default-experiment figures."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.tracking import EpochLedger, first_reaching

REPO = Path(__file__).resolve().parents[1]
DIGITS_YAML = REPO / "experiments" / "digits.yaml"
SMOKE_OVERRIDES = ["search.num_samples=2", "train.epochs=2", "search.n_initial_points=1"]


def run_digits(storage: Path, name: str, *, smoke: bool, callbacks: list | None = None,
               target: float = 0.97) -> dict[str, Any]:
    """``experiments/digits.yaml`` through ``raytuner.run`` with a ledger; wall time, epochs,
    best accuracy, time to ``target`` and the per-trial start cost seen from the driver."""
    import raytuner

    exp = raytuner.load_experiment(DIGITS_YAML, overrides=SMOKE_OVERRIDES if smoke else None)
    ledger = EpochLedger(exp.search.metric, keep_results=True)
    ledger.restart_clock()
    result = raytuner.run(exp, storage=storage, name=name, overwrite=True,
                 shared_storage=True,  # one machine: every node shares its disk
                          callbacks=[ledger, *(callbacks or [])], stop=ledger)
    wall = time.monotonic() - ledger.t0
    times, counts, best = ledger.best_so_far("max")
    epochs_to, seconds_to = first_reaching(times, counts, best, target)
    return {
        "wall_s": wall,
        "epochs": ledger.epochs,
        "trials": len(ledger.trial_starts),
        "best": best[-1] if best else None,
        "summary_best": (result.best or {}).get("best"),
        "seconds_to_target": seconds_to,
        "epochs_to_target": epochs_to,
        "start_costs": start_costs(ledger),
        "last_result_s": times[-1] if times else None,
    }


def start_costs(ledger: EpochLedger) -> list[float]:
    """Per trial: seconds from Tune starting it to its first result, less the first epoch's own
    training and evaluation time: what a trial pays before its first epoch and for its first
    checkpoint and report (actor reuse, config, data from the object store, model build)."""
    # In trial start order, so callers can tell fresh actors (the first ones) from reused ones.
    first: dict[str, Any] = {}
    for rec in ledger.records:
        first.setdefault(rec.trial_id, rec)
    costs = []
    for trial_id, started in sorted(ledger.trial_starts.items(), key=lambda kv: kv[1]):
        rec = first.get(trial_id)
        if rec is not None and rec.epoch == 1:
            costs.append(rec.t - started - float(rec.result.get("epoch_time_s", 0.0)))
    return costs


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
