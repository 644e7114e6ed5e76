"""B6 population-based training: PBT and PB2 against ASHA on B1's task.

Task, data and ledger are B1's (:mod:`benchmarks.search_efficiency`), the size its
``TASK_FULL``: the digits CNN on a 300-image subset validated on 500 others, 90 training
epochs per run (B1 itself spends 360 to reach a rarer target), at most 9 per trial,
two trials at a time; the ledger counts reported epochs exactly and stops the run at the
budget. A population scheduler may only search what a running trial can change, so every
method here searches the same space: B1's minus its structural keys (channels, depth, hidden,
the optimizer branch), which stay at B1's base model (depth 2, 32 channels, 128 hidden, adam).

- ``asha``: random search + ASHA (grace 1, eta 3), as B1's (b) on this space
- ``pbt``: a population of ceil(budget / 9) = 10 trials, perturbed every 3 epochs
- ``pb2``: the same population, explored by PB2's GP bandit over the space's ranges

The JSON it stores (``results/b6_population.json``) is what the table is built from.
"""

from __future__ import annotations

import json
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
from benchmarks.search_efficiency import METRIC, SMOKE, TASK_FULL, base_experiment
from benchmarks.tracking import EpochLedger, best_at

#: B1's space without the keys that change the model's shape or the optimizer's kind
SPACE: dict[str, Any] = {
    "train.lr": {"loguniform": [1.0e-4, 1.0e-1]},
    "train.batch_size": {"choice": [16, 32, 64, 128]},
    "train.weight_decay": {"loguniform": [1.0e-6, 1.0e-2]},
    "model.dropout": {"uniform": [0.01, 0.6]},  # above 0: a dropout layer must exist
}

METHODS = {
    "asha": "random + ASHA (grace 1, eta 3)",
    "pbt": "PBT (population budget / max epochs, every 3)",
    "pb2": "PB2 (population budget / max epochs, every 3)",
}
INTERVAL = {"full": 3, "smoke": 1}


def experiment(method: str, seed: int, size: dict[str, Any], smoke: bool) -> dict[str, Any]:
    """The raytuner experiment of one method and seed."""
    raw = base_experiment(seed, size["max_epochs"], size["budget"], "random",
                          "asha" if method == "asha" else "fifo")
    raw["name"] = f"b6-{method}-{seed}"
    raw["search"]["space"] = dict(SPACE)
    if method != "asha":
        # enough trials to spend the budget: ceil(budget / epochs per trial)
        raw["search"]["num_samples"] = max(2, -(-size["budget"] // size["max_epochs"]))
        raw["search"]["scheduler"] = {
            "name": method, "perturbation_interval": INTERVAL["smoke" if smoke else "full"],
            "quantile_fraction": 0.25}
    return raw


def run_method(method: str, seed: int, size: dict[str, Any], smoke: bool,
               storage: Path) -> tuple[EpochLedger, float]:
    """One method, one seed, through ``raytuner.run``; (ledger, wall seconds)."""
    import raytuner
    from raytuner.config import validate_experiment

    exp = validate_experiment(experiment(method, seed, size, smoke))
    ledger = EpochLedger(METRIC, budget=size["budget"])
    ledger.restart_clock()
    result = raytuner.run(exp, storage=storage, callbacks=[ledger], stop=ledger,
                          shared_storage=True)
    wall = time.monotonic() - ledger.t0
    ledger.exploits = sum(len(t.get("lineage") or []) for t in result.summary["trials"])
    return ledger, wall


def _summarize(ledger: EpochLedger, wall: float, budget: int, seed: int) -> dict[str, Any]:
    times, counts, best = ledger.best_so_far("max")
    return {
        "seed": seed, "wall_s": wall, "epochs": ledger.epochs, "overrun": ledger.overrun,
        "trials": len({r.trial_id for r in ledger.records}),
        "exploits": getattr(ledger, "exploits", 0),
        "best": {str(q): best_at(counts, best, round(budget * q)) for q in (0.25, 0.5, 1.0)},
        "curve": {"t": times, "n": counts, "best": best},
    }


def run(opts: Options) -> Report:
    """Every method for every seed (:func:`benchmarks.common.run_seeds`); the table is built
    from the JSON written after each run."""
    size = dict(SMOKE if opts.smoke else TASK_FULL)
    seeds = opts.seeds or size["seeds"]
    methods = opts.extra.get("methods") or list(METHODS)
    saved = opts.out_dir / "b6_population.json"
    if opts.extra.get("report_only"):
        return _report(json.loads(saved.read_text(encoding="utf-8")), opts.out_dir)

    def run_one(method: str, seed: int, storage: Path) -> dict[str, Any]:
        ledger, wall = run_method(method, seed, size, opts.smoke, storage)
        return _summarize(ledger, wall, size["budget"], seed)

    data: dict[str, Any] = {"size": size, "seeds": seeds, "runs": {m: [] for m in methods}}
    return _report(run_seeds(data, saved, methods, run_one), opts.out_dir)


def _paired(runs: dict[str, list[dict[str, Any]]]) -> str:
    """Per seed, each population method's final best against ASHA's on the same seed."""
    asha = {r["seed"]: r["best"]["1.0"] for r in runs.get("asha", [])}
    lines = []
    for key in ("pbt", "pb2"):
        pairs = [(r["best"]["1.0"], asha[r["seed"]]) for r in runs.get(key, [])
                 if r["seed"] in asha]
        if pairs:
            diffs = [a - b for a, b in pairs]
            lines.append(f"- {key} - asha at 100% of the budget, per seed: "
                         + ", ".join(f"{d:+.3f}" for d in diffs)
                         + f" (better on {sum(d > 0 for d in diffs)}, equal on "
                         f"{sum(d == 0 for d in diffs)}, worse on {sum(d < 0 for d in diffs)})")
    return "\n".join(lines) + "\n" if lines else ""


def _report(data: dict[str, Any], out_dir: Path) -> Report:
    size, runs = data["size"], {k: v for k, v in data["runs"].items() if v}
    header = ["method", "best @25%", "best @50%", "best @100%", "seeds", "trials",
              "lineage entries", "run wall s", "mean load"]
    rows = [[METHODS[key], *(median_spread([r["best"][q] for r in results])
                             for q in ("0.25", "0.5", "1.0")),
             len(results), median_spread([float(r["trials"]) for r in results], 0),
             median_spread([float(r["exploits"]) for r in results], 0),
             median_spread([r["wall_s"] for r in results], 1),
             round(statistics.fmean(r["load_mean_1m"] for r in results), 1)]
            for key, results in runs.items()]
    markdown = (
        f"Budget {size['budget']} training epochs per run, at most {size['max_epochs']} per "
        f"trial, 2 trials at a time (B1's task); cells: best {METRIC} seen by 25/50/100% of "
        f"the budget, median [min, max] over the seeds run; lineage entries: summed over the "
        f"trials' lineages in summary.json (a copy inherited from a donor counts again in the "
        f"copier; 0 means no trial was ever copied).\n\n"
        + markdown_table(header, rows) + "\n\n" + _paired(runs))
    plot = None
    if runs:
        plot = out_dir / "b6_population.png"
        series = {METHODS[k]: [(r["curve"]["n"], r["curve"]["best"]) for r in v]
                  for k, v in runs.items()}
        plot_lines(plot, series, xlabel="training epochs spent", ylabel=f"best {METRIC}",
                   title="B6: best so far against epochs")
    return Report("b6_population", "B6: population-based training against ASHA", markdown,
                  plots=[plot] if plot else [], data=data)
