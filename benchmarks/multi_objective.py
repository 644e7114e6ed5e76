"""B7 multi-objective search: Optuna's multi-objective TPE + MOASHA against random + FIFO.

Task, data, space and ledger are B1's (:mod:`benchmarks.search_efficiency`): the digits CNN on
a 300-image subset validated on 500 others, at most 9 epochs per trial, two trials at a time, a
budget of 90 training epochs per run (its ``TASK_FULL``; the ledger counts reported epochs
exactly and stops the run there). Two objectives: ``val_accuracy`` (max) against ``params``
(min), the trainable parameter count. ``params`` and not ``latency_ms``: a count is exact and
the same on a loaded machine, so the comparison measures the search, not the machine's noise;
B1's space changes it over three orders of magnitude (channels, depth, hidden units).

- ``random``: random search + FIFO: ceil(budget / 9) = 10 trials of 9 epochs
- ``moasha``: Optuna TPE over both objectives (6 random start-up trials, constant liar) +
  MOASHA (grace 1, eta 3): as many trials as the budget allows

A method's front after k epochs spent: the Pareto front of every trial's latest values among
the first k counted epochs (a trial stands for its current model). The hypervolume of that
front is measured against one reference point for every run of every method: accuracy 0 and
1.1 x the largest ``params`` any run reported, so that figures compare across methods and
seeds. The JSON it stores (``results/b7_multi_objective.json``) is what the table is built from.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    Options,
    Report,
    markdown_table,
    median_spread,
    plot_lines,
    run_seeds,
)
from benchmarks.search_efficiency import SMOKE, TASK_FULL, base_experiment
from benchmarks.tracking import EpochLedger
from raytuner.search.pareto import hypervolume

GOALS = [("val_accuracy", "max"), ("params", "min")]
METHODS = {
    "random": "random + FIFO",
    "moasha": "Optuna TPE (2 objectives) + MOASHA (grace 1, eta 3)",
}
FRACTIONS = (0.25, 0.5, 1.0)


def experiment(method: str, seed: int, size: dict[str, Any]) -> dict[str, Any]:
    """The raytuner experiment of one method and seed."""
    raw = base_experiment(seed, size["max_epochs"], size["budget"], "random", "fifo")
    raw["name"] = f"b7-{method}-{seed}"
    search = raw["search"]
    del search["metric"], search["mode"]
    search["objectives"] = [{"metric": m, "mode": mode} for m, mode in GOALS]
    if method == "random":
        # enough full-length trials to spend the budget: ceil(budget / epochs per trial)
        search["num_samples"] = max(2, -(-size["budget"] // size["max_epochs"]))
    else:
        search["algorithm"] = "optuna"
        search["scheduler"] = {"name": "moasha", "grace_period": 1, "reduction_factor": 3}
    return raw


def run_method(method: str, seed: int, size: dict[str, Any], storage: Path
               ) -> tuple[EpochLedger, float]:
    """One method, one seed, through ``raytuner.run``; (ledger, wall seconds)."""
    import raytuner
    from raytuner.config import validate_experiment

    exp = validate_experiment(experiment(method, seed, size))
    ledger = EpochLedger(GOALS[0][0], budget=size["budget"], keep_results=True)
    ledger.restart_clock()
    raytuner.run(exp, storage=storage, callbacks=[ledger], stop=ledger, shared_storage=True)
    return ledger, time.monotonic() - ledger.t0


def _points(ledger: EpochLedger) -> list[list[Any]]:
    """``[trial id, epoch, accuracy, params]`` of every counted epoch, in arrival order."""
    return [[r.trial_id, r.epoch, r.result[GOALS[0][0]], r.result[GOALS[1][0]]]
            for r in ledger.records]


#: the two scales the parameter count is measured on: as it is, where the volume is ruled by
#: the largest models (from 400k to 40k parameters is 90% of the axis, 4k to 400 under 1%);
#: and its log10, where each factor of ten weighs the same
SCALES = {"params": "params as counted", "log10_params": "log10(params)"}


def _scaled(params: float, scale: str) -> float:
    return math.log10(params) if scale == "log10_params" else params


def front_hypervolume(points: list[list[Any]], spent: int, reference: tuple[float, float],
                      scale: str = "params") -> float:
    """The hypervolume of the trials' latest values among the first ``spent`` epochs, with
    the parameter count on ``scale``."""
    latest: dict[str, tuple[float, float]] = {}
    for trial_id, _, accuracy, params in points[:spent]:
        latest[trial_id] = (float(accuracy), _scaled(float(params), scale))
    return hypervolume(list(latest.values()), [mode for _, mode in GOALS], reference)


def reference_of(data: dict[str, Any], scale: str = "params") -> tuple[float, float]:
    """Accuracy 0 and, on ``scale``, 1.1 x the largest parameter count any run reported (10%
    beyond it on the log scale)."""
    largest = max((p[3] for runs in data["runs"].values() for r in runs for p in r["points"]),
                  default=1.0)
    return (0.0, _scaled(1.1 * float(largest), scale))


def run(opts: Options) -> Report:
    """Every method for every seed (:func:`benchmarks.common.run_seeds`); the table is built
    from the JSON written after each run."""
    size = dict(SMOKE if opts.smoke else TASK_FULL)
    seeds = opts.seeds or size["seeds"]
    methods = opts.extra.get("methods") or list(METHODS)
    saved = opts.out_dir / "b7_multi_objective.json"
    if opts.extra.get("report_only"):
        return _report(json.loads(saved.read_text(encoding="utf-8")), opts.out_dir)

    def run_one(method: str, seed: int, storage: Path) -> dict[str, Any]:
        ledger, wall = run_method(method, seed, size, storage)
        return {"seed": seed, "wall_s": wall, "epochs": ledger.epochs,
                "overrun": ledger.overrun, "trials": len({r.trial_id for r in ledger.records}),
                "points": _points(ledger)}

    data: dict[str, Any] = {"size": size, "seeds": seeds, "goals": GOALS,
                            "runs": {m: [] for m in methods}}
    return _report(run_seeds(data, saved, methods, run_one), opts.out_dir)


def _ratio_lines(runs: dict[str, list[dict[str, Any]]], hv: dict[str, list[dict[str, float]]]
                 ) -> tuple[list[str], dict[str, list[float]]]:
    """Per fraction of the budget, MOASHA + Optuna's hypervolume over random + FIFO's on the
    same seed."""
    lines: list[str] = []
    ratios: dict[str, list[float]] = {}
    if "random" not in hv or "moasha" not in hv:
        return lines, ratios
    base = {r["seed"]: h for r, h in zip(runs["random"], hv["random"], strict=True)}
    for q in FRACTIONS:
        values = [h[str(q)] / base[r["seed"]][str(q)]
                  for r, h in zip(runs["moasha"], hv["moasha"], strict=True)
                  if r["seed"] in base and base[r["seed"]][str(q)] > 0]
        if values:
            ratios[str(q)] = values
            lines.append(f"- at {round(q * 100)}% of the budget, MOASHA + Optuna / random + "
                         f"FIFO, per seed: " + ", ".join(f"{x:.2f}" for x in values)
                         + f" (median {statistics.median(values):.2f})")
    return lines, ratios


def _report(data: dict[str, Any], out_dir: Path) -> Report:
    size, runs = data["size"], {k: v for k, v in data["runs"].items() if v}
    budget = size["budget"]
    data["hypervolume"] = {}
    parts = [
        f"Budget {budget} training epochs per run, at most {size['max_epochs']} per trial, 2 "
        f"trials at a time (B1's task and space); objectives {GOALS[0][0]} (max) and "
        f"{GOALS[1][0]} (min). Cells: hypervolume of the front of the trials' latest values "
        f"after 25/50/100% of the budget, median [min, max] over the seeds run, with one "
        f"reference point for every run; the parameter count on two scales."]
    for scale, label in SCALES.items():
        reference = reference_of(data, scale)
        hv = {key: [{str(q): front_hypervolume(r["points"], round(budget * q), reference, scale)
                     for q in FRACTIONS} for r in results] for key, results in runs.items()}
        lines, ratios = _ratio_lines(runs, hv)
        data["hypervolume"][scale] = {"reference": list(reference), "by_method": hv,
                                      "ratios": ratios}
        digits = 0 if scale == "params" else 3
        header = ["method", *(f"hypervolume @{round(q * 100)}%" for q in FRACTIONS),
                  "seeds", "trials", "run wall s", "mean load"]
        rows = [[METHODS[key], *(median_spread([h[str(q)] for h in hv[key]], digits)
                                 for q in FRACTIONS),
                 len(results), median_spread([float(r["trials"]) for r in results], 0),
                 median_spread([r["wall_s"] for r in results], 1),
                 round(statistics.fmean(r["load_mean_1m"] for r in results), 1)]
                for key, results in runs.items()]
        parts.append(f"**{label}**, reference point ({reference[0]:g}, {reference[1]:.4g}):\n\n"
                     + markdown_table(header, rows) + "\n\n" + "\n".join(lines))
    plot = None
    if runs:
        plot = out_dir / "b7_multi_objective.png"
        reference = reference_of(data, "log10_params")
        series = {METHODS[key]: [(list(range(1, len(r["points"]) + 1)),
                                  [front_hypervolume(r["points"], k, reference, "log10_params")
                                   for k in range(1, len(r["points"]) + 1)])
                                 for r in results] for key, results in runs.items()}
        plot_lines(plot, series, xlabel="training epochs spent",
                   ylabel="hypervolume (accuracy x log10 params)",
                   title="B7: hypervolume against epochs")
    return Report("b7_multi_objective", "B7: multi-objective search", "\n\n".join(parts) + "\n",
                  plots=[plot] if plot else [], data=data)
