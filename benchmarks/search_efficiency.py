"""B1 search efficiency: best validation accuracy against training epochs spent and wall-clock.

Task: the digits CNN on a 300-image stratified subset (``benchmarks.datasets:digits_subset``),
validated on 500 other images. Every method gets the same budget of training epochs; the
ledger (``benchmarks.tracking.EpochLedger``) counts reported epochs exactly and stops the run
when the budget is spent. Methods (a)-(d) run through ``raytuner.run``; (e) and (f) are
Optuna's TPE sampler (``n_startup_trials`` = HyperOpt's ``n_initial_points``, 10) driving the
same ``raytuner.trial.loop.Trainer`` in-process, with its Hyperband pruner (e) or its
``SuccessiveHalvingPruner`` (f: the ASHA equivalent, min_resource = ASHA's grace 1,
reduction_factor 3).

Task and target, chosen before the runs. The target must lie where search matters: above what
a random 9-epoch trial reaches. ``python -m benchmarks.search_efficiency --pilot`` trains
:data:`PILOT_TRIALS` random configurations of :data:`SPACE` for 9 epochs each, in-process
(accuracy does not depend on the machine's load), and writes ``results/b1_pilot.json``. The
rule, fixed on 2026-12-04 before that pilot ran: the target is the pilot's 95th percentile of
final accuracy, rounded down to 0.005 (one random full-length trial in twenty gets there), and
the budget is 40 full-length trials (360 epochs), so that random + FIFO can expect to reach the
target within the budget (1 - 0.95^40 = 87 % of runs) and a method that needs a third of its
epochs has room to show it. The earlier rule (90th percentile of 24 trials, a budget of 10
trials) put the target where random + FIFO got in 2 trials in the median run of 2026-12-03:
no method could need a third of that.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import (
    LoadWatch,
    Options,
    Report,
    markdown_table,
    median_spread,
    plot_lines,
    ray_session,
)
from benchmarks.tracking import EpochLedger, best_at, first_reaching

METRIC = "val_accuracy"

SPACE: dict[str, Any] = {
    "train.lr": {"loguniform": [1.0e-4, 1.0e-1]},
    "train.batch_size": {"choice": [16, 32, 64, 128]},
    "train.weight_decay": {"loguniform": [1.0e-6, 1.0e-2]},
    "model.channels": {"choice": [4, 8, 16, 32, 64]},
    "model.depth": {"int": [1, 3]},
    "model.dropout": {"uniform": [0.0, 0.6]},
    "model.hidden": {"choice": [0, 32, 128]},
    "train.optimizer": {"choice": ["adam", {"value": "sgd", "space": {
        "train.momentum": {"uniform": [0.0, 0.99]}}}]},
}

# The task's size that B6 and B7 share: 9 epochs per trial at most (ASHA rungs 1, 3, 9 with
# eta 3), a budget of 10 full-length trials (90 epochs), 5 seeds.
TASK_FULL = {"max_epochs": 9, "budget": 90, "seeds": 5}
# B1's: 40 full-length trials and the pilot's target (module docstring). The pilot of
# 2026-12-04 (``results/b1_pilot.json``: 80 configurations, median 0.842, 95th percentile
# 0.962, best 0.976) gave the target 0.96.
FULL = {**TASK_FULL, "budget": 360, "target": 0.96, "secondary_seeds": 5,
        "target_why": "the 95th percentile of 80 random 9-epoch trials in the pilot, "
                      "b1_pilot.json"}
SMOKE = {"max_epochs": 3, "budget": 8, "target": 0.5, "seeds": 1}

METHODS = {
    "a": ("random + FIFO", "random", "fifo"),
    "b": ("random + ASHA", "random", "asha"),
    "c": ("HyperOpt + FIFO", "hyperopt", "fifo"),
    "d": ("HyperOpt + ASHA (raytuner default)", "hyperopt", "asha"),
    "e": ("Optuna TPE + Hyperband, in-process", "optuna", "hyperband"),
    "f": ("Optuna TPE + SuccessiveHalving (ASHA-like), in-process", "optuna", "sha"),
}
RUN_ORDER = "adfebc"
N_INITIAL = 10  # HyperOpt's n_initial_points and TPE's n_startup_trials: the same start-up
PILOT_TRIALS = 80
PILOT_QUANTILE = 95  # percent


def base_experiment(seed: int, max_epochs: int, budget: int, algorithm: str,
                    scheduler: str) -> dict[str, Any]:
    """The raytuner experiment of one Ray-driven method."""
    sched: dict[str, Any] = {"name": scheduler}
    if scheduler == "asha":
        sched.update(grace_period=1, reduction_factor=3)
    return {
        "name": f"b1-{algorithm}-{scheduler}-{seed}",
        "seed": seed,
        "data": {"name": "benchmarks.datasets:digits_subset"},
        "model": {"name": "cnn", "depth": 2, "channels": 32, "dropout": 0.1, "hidden": 128},
        "train": {"epochs": max_epochs, "batch_size": 64, "optimizer": "adam", "lr": 0.003},
        "search": {"algorithm": algorithm, "metric": METRIC, "mode": "max",
                   # the epoch budget ends the run; every trial costs at least one epoch
                   "num_samples": budget, "max_concurrent": 2, "n_initial_points": N_INITIAL,
                   "scheduler": sched, "space": copy.deepcopy(SPACE)},
        "resources": {"cpu": 1, "gpu": 0},
        "checkpoint": {"keep": 1},
        "failure": {"max_retries": 0},
    }


def run_ray_method(seed: int, size: dict[str, Any], algorithm: str, scheduler: str,
                   storage: Path) -> tuple[EpochLedger, float]:
    """One method, one seed, through ``raytuner.run``; (ledger, wall seconds)."""
    import raytuner
    from raytuner.config import validate_experiment

    exp = validate_experiment(base_experiment(seed, size["max_epochs"], size["budget"],
                                              algorithm, scheduler))
    ledger = EpochLedger(METRIC, budget=size["budget"])
    ledger.restart_clock()
    raytuner.run(exp, storage=storage, callbacks=[ledger], stop=ledger,
                 shared_storage=True)  # one machine: every node shares its disk
    return ledger, time.monotonic() - ledger.t0


def _suggest(trial) -> dict[str, Any]:
    """The same space as :data:`SPACE`, in Optuna's define-by-run form."""
    params = {
        "train.lr": trial.suggest_float("train.lr", 1e-4, 1e-1, log=True),
        "train.batch_size": trial.suggest_categorical("train.batch_size", [16, 32, 64, 128]),
        "train.weight_decay": trial.suggest_float("train.weight_decay", 1e-6, 1e-2, log=True),
        "model.channels": trial.suggest_categorical("model.channels", [4, 8, 16, 32, 64]),
        "model.depth": trial.suggest_int("model.depth", 1, 3),
        "model.dropout": trial.suggest_float("model.dropout", 0.0, 0.6),
        "model.hidden": trial.suggest_categorical("model.hidden", [0, 32, 128]),
        "train.optimizer": trial.suggest_categorical("train.optimizer", ["adam", "sgd"]),
    }
    if params["train.optimizer"] == "sgd":
        params["train.momentum"] = trial.suggest_float("train.momentum", 0.0, 0.99)
    return params


def _pruner(kind: str, max_epochs: int):
    """Optuna's pruner for method (e) ``hyperband`` or (f) ``sha`` (ASHA's settings)."""
    import optuna

    if kind == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3,
                                                      min_early_stopping_rate=0)
    return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs,
                                          reduction_factor=3)


def run_optuna(seed: int, size: dict[str, Any], pruner: str = "hyperband"
               ) -> tuple[EpochLedger, float]:
    """Methods (e)/(f): Optuna TPE + a pruner, two threads (as Ray runs two trials),
    training with raytuner's own Trainer; the same ledger accounting as the Ray methods."""
    import optuna
    import torch

    from raytuner.config import validate_experiment, with_params
    from raytuner.trial.divergence import Diverged
    from raytuner.trial.loop import Trainer

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)  # as each Ray trial (resources.cpu = 1)
    ledger = EpochLedger(METRIC, budget=size["budget"])
    lock = threading.Lock()
    ledger.restart_clock()
    base = validate_experiment(base_experiment(seed, size["max_epochs"], size["budget"],
                                               "random", "fifo"))
    from benchmarks.datasets import digits_subset

    data = digits_subset(base.data, seed)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=N_INITIAL),
        pruner=_pruner(pruner, size["max_epochs"]))

    def objective(trial) -> float:
        exp = with_params(base, _suggest(trial))
        trainer = Trainer(exp, data)
        value = 0.0
        epochs = trainer.epochs()
        while True:
            try:
                metrics = next(epochs)
            except StopIteration:
                break
            except Diverged as exc:  # raytuner ends such a trial in Ray; here: pruned
                raise optuna.TrialPruned() from exc
            value = metrics[METRIC]
            with lock:
                over = ledger(str(trial.number), metrics)
                if ledger.stop_all():
                    study.stop()
            if over:
                raise optuna.TrialPruned()
            trial.report(value, metrics["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study.optimize(objective, n_trials=size["budget"], n_jobs=2)
    return ledger, time.monotonic() - ledger.t0


def _random_finals(ledger: EpochLedger, max_epochs: int) -> list[float]:
    """Final accuracies of the trials that trained to the last epoch."""
    return [r.value for r in ledger.records if r.epoch == max_epochs]


def _schedule(size: dict[str, Any], methods: list[str], seeds: int | None
              ) -> list[tuple[int, str]]:
    """(seed, method) in run order: seed by seed, so that an interrupted run still holds
    every method at about the same number of seeds. The goal's two methods, (a) and (d), and
    the Optuna peers get ``seeds``; (b) and (c) ``secondary_seeds`` (they cost as much as
    (a) and (d) and no goal reads them: a loaded machine can cut them first)."""
    primary = seeds or size["seeds"]
    secondary = min(primary, size.get("secondary_seeds", primary))
    count = {m: secondary if m in ("b", "c") else primary for m in methods}
    order = sorted(methods, key=RUN_ORDER.index)  # the goal's methods first in each round
    return [(seed, m) for seed in range(primary) for m in order if seed < count[m]]


def run(opts: Options) -> Report:
    """Run every method for every seed; table, goal checks and plots."""
    size = dict(SMOKE if opts.smoke else FULL)
    methods = opts.extra.get("methods") or list(METHODS)
    budget, target = size["budget"], size["target"]
    partial = opts.out_dir / "b1_search_efficiency.partial.json"
    if opts.extra.get("report_only"):
        # Rebuild the report from the runs saved so far (e.g. after an interrupted run).
        saved = json.loads(partial.read_text(encoding="utf-8"))
        runs = {k: [_from_json(r) for r in v] for k, v in saved["runs"].items() if v}
        return _report(runs, size, target, budget, saved["ray_start_s"], opts.out_dir)
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    done: set[tuple[int, str]] = set()
    if opts.extra.get("resume") and partial.exists():
        # Carry on after an interrupted run: keep its runs, run only the missing ones.
        saved = json.loads(partial.read_text(encoding="utf-8"))
        for key, results in saved["runs"].items():
            runs[key] = [_from_json(r) for r in results]
            done |= {(r["seed"], key) for r in results}
    ray_start = time.monotonic()
    shutdown = ray_session()
    ray_start_s = time.monotonic() - ray_start
    try:
        with tempfile.TemporaryDirectory(prefix="b1-") as tmp:
            for seed, key in _schedule(size, methods, opts.seeds):
                if (seed, key) in done:
                    continue
                _, algorithm, scheduler = METHODS[key]
                with LoadWatch() as load:
                    if algorithm == "optuna":
                        ledger, wall = run_optuna(seed, size, scheduler)
                    else:
                        ledger, wall = run_ray_method(seed, size, algorithm, scheduler,
                                                      Path(tmp) / key)
                runs[key].append(_summarize(ledger, wall, size, target, load, seed))
                opts.out_dir.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps({"ray_start_s": ray_start_s, "runs": runs},
                                              default=str), encoding="utf-8")
    finally:
        shutdown()
    return _report({k: v for k, v in runs.items() if v}, size, target, budget, ray_start_s,
                   opts.out_dir)


def _summarize(ledger: EpochLedger, wall: float, size: dict[str, Any], target: float,
               load: LoadWatch, seed: int) -> dict[str, Any]:
    times, counts, best = ledger.best_so_far("max")
    epochs_to, seconds_to = first_reaching(times, counts, best, target)
    budget = size["budget"]
    return {
        "seed": seed, "wall_s": wall, "epochs": ledger.epochs, "overrun": ledger.overrun,
        "trials": len({r.trial_id for r in ledger.records}),
        "best": {q: best_at(counts, best, round(budget * q)) for q in (0.25, 0.5, 1.0)},
        "epochs_to_target": epochs_to, "seconds_to_target": seconds_to,
        "curve": {"t": times, "n": counts, "best": best},
        "random_finals": _random_finals(ledger, size["max_epochs"]),
        **load.as_dict(),
    }


def _per_epoch_after_first(run: dict[str, Any]) -> float | None:
    """Seconds per counted epoch after the first result (start-up left out)."""
    times = run["curve"]["t"]
    return (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None


def _from_json(run: dict[str, Any]) -> dict[str, Any]:
    """A saved run with its float budget fractions restored as keys."""
    return {**run, "best": {float(k): v for k, v in run["best"].items()}}


OTHER_TARGETS = (0.94, 0.95, 0.96, 0.97, 0.98)


def _other_targets(runs: dict[str, list[dict[str, Any]]], target: float) -> str:
    """Epochs to other accuracy levels, read off the same curves (secondary: the goals use
    the target fixed before the runs)."""
    levels = [t for t in OTHER_TARGETS if t != target]
    rows = []
    for key, results in runs.items():
        cells = []
        for level in levels:
            reached = [first_reaching(r["curve"]["t"], r["curve"]["n"], r["curve"]["best"],
                                      level)[0] for r in results]
            cells.append(median_spread(reached, 0))
        rows.append([f"({key})", *cells])
    return ("Epochs to other accuracy levels (same runs; median [min, max] over the runs that "
            "got there, the others noted):\n\n"
            + markdown_table(["method", *map(str, levels)], rows) + "\n\n")


def _median(values: list[float | None]) -> float | None:
    """Median where a run that never reached the target counts as infinitely slow."""
    if not values:
        return None
    ranked = sorted(float("inf") if v is None else v for v in values)
    value = statistics.median(ranked)
    return None if value == float("inf") else value


def _method_median(runs: dict[str, list[dict[str, Any]]], key: str, field: str
                   ) -> float | None:
    """:func:`_median` of ``field`` over method ``key``'s runs (None without that method)."""
    return _median([r[field] for r in runs[key]]) if key in runs else None


def epochs_ratio(runs: dict[str, list[dict[str, Any]]]) -> float | None:
    """(d)'s median epochs to the target over (a)'s (the goal: <= 1/3); None unless both
    median runs reached it."""
    a_ep = _method_median(runs, "a", "epochs_to_target")
    d_ep = _method_median(runs, "d", "epochs_to_target")
    return d_ep / a_ep if a_ep and d_ep is not None else None


def _goal_lines(runs: dict[str, list[dict[str, Any]]], target: float) -> list[str]:
    lines = []

    def med(key: str, field: str) -> float | None:
        return _method_median(runs, key, field)

    a_ep, d_ep = med("a", "epochs_to_target"), med("d", "epochs_to_target")
    if "a" in runs and "d" in runs:
        if d_ep is None:
            lines.append(f"- (d) epochs to {target}: the median run of (d) never reached it: "
                         "**missed**.")
        elif a_ep is None:
            lines.append(f"- (d) epochs to {target}: median {d_ep:.0f}; the median run of (a) "
                         f"never reached it within the budget, so (d) needs less than a third "
                         "of (a)'s epochs only if (a) would need "
                         f">= {3 * d_ep:.0f}: met (a lower bound).")
        else:
            ratio = epochs_ratio(runs)
            lines.append(f"- (d) needs {d_ep:.0f} epochs to {target} against (a)'s {a_ep:.0f} "
                         f"(median): ratio {ratio:.2f}, goal <= 0.33: "
                         f"**{'met' if ratio <= 1 / 3 else 'missed'}**.")
    for peer in ("e", "f"):
        if "d" in runs and peer in runs:
            lines += _peer_lines(runs, peer, target, med)
    return lines


def _peer_lines(runs: dict[str, list[dict[str, Any]]], peer: str, target: float,
                med: Callable[[str, str], float | None]) -> list[str]:
    """(d) against one Optuna peer: final median accuracy and wall-clock to the target."""
    d_fin = statistics.median(r["best"][1.0] or 0.0 for r in runs["d"])
    p_fin = statistics.median(r["best"][1.0] or 0.0 for r in runs[peer])
    lines = [f"- Final median: (d) {d_fin:.3f} against ({peer}) {p_fin:.3f}: "
             f"**{'met' if d_fin >= p_fin else 'missed'}** (goal (d) >= ({peer}))."]
    d_s, p_s = med("d", "seconds_to_target"), med(peer, "seconds_to_target")
    if d_s is not None and p_s is not None:
        ratio = d_s / p_s
        lines.append(f"- Wall-clock to {target}: (d) {d_s:.1f} s against ({peer}) {p_s:.1f} s "
                     f"(median): ratio {ratio:.2f}, goal <= 1.5: "
                     f"**{'met' if ratio <= 1.5 else 'missed'}**.")
    else:
        lines.append(f"- Wall-clock to {target}: a median run of (d) or ({peer}) never reached "
                     "it; see the table.")
    return lines


def _report(runs: dict[str, list[dict[str, Any]]], size: dict[str, Any], target: float,
            budget: int, ray_start_s: float, out_dir: Path) -> Report:
    seeds = {k: len(v) for k, v in runs.items()}
    header = ["method", "seeds", "best @25%", "best @50%", "best @100%", f"epochs to {target}",
              f"seconds to {target}", "trials", "run wall s", "s to 1st epoch",
              "s / epoch after", "overrun epochs", "mean load"]
    rows = []
    for key, results in runs.items():
        rows.append([
            f"({key}) {METHODS[key][0]}", len(results),
            median_spread([r["best"][0.25] for r in results]),
            median_spread([r["best"][0.5] for r in results]),
            median_spread([r["best"][1.0] for r in results]),
            median_spread([r["epochs_to_target"] for r in results], 0),
            median_spread([r["seconds_to_target"] for r in results], 1),
            median_spread([float(r["trials"]) for r in results], 0),
            median_spread([r["wall_s"] for r in results], 1),
            median_spread([r["curve"]["t"][0] for r in results], 1),
            median_spread([_per_epoch_after_first(r) for r in results], 2),
            sum(r["overrun"] for r in results),
            statistics.fmean(r["load_mean_1m"] for r in results),
        ])
    finals = [v for r in runs.get("a", []) for v in r["random_finals"]]
    pilot_path = out_dir / "b1_pilot.json"
    pilot_data = (json.loads(pilot_path.read_text(encoding="utf-8"))
                  if pilot_path.exists() and target == FULL["target"] else None)
    more = _other_targets(runs, target)
    if pilot_data:
        more = (f"Pilot (`b1_pilot.json`, before the runs): {pilot_data['trials']} random "
                f"configurations trained {pilot_data['epochs']} epochs reached median "
                f"{pilot_data['median']:.3f}, {pilot_data['percentile']}th percentile "
                f"{pilot_data['quantile']:.3f}, best "
                f"{pilot_data['best']:.3f}; rule: {pilot_data['target_rule']} = "
                f"{pilot_data['target']}.\n\n" + more)
    spread = ""
    if finals:
        spread = (f"Random configurations trained to {size['max_epochs']} epochs (from (a)): "
                  f"{len(finals)} trials, median final accuracy {statistics.median(finals):.3f}, "
                  f"best {max(finals):.3f}: the search matters on this task.\n\n")
    markdown = (
        f"Budget {budget} training epochs per run (max {size['max_epochs']} per trial; ASHA "
        f"grace 1, eta 3; Optuna TPE with {N_INITIAL} start-up trials (HyperOpt: "
        f"{N_INITIAL} initial points), Hyperband min 1, max {size['max_epochs']}, eta 3, or "
        f"SuccessiveHalving min 1, eta 3), seeds per method in the table, target accuracy "
        f"{target} ({size.get('target_why', 'smoke size')}), 2 trials at a time. Cells: median "
        f"[min, max] over seeds (for 'to {target}': over the runs that got there; the goal "
        f"checks count a run that never did as infinitely slow). Epochs are counted exactly "
        f"from the reported results; "
        f"'overrun' epochs were trained by a running trial after the budget was spent and are "
        f"excluded. Ray was started once before all runs ({ray_start_s:.1f} s, not included "
        f"in the Ray methods' seconds).\n\n"
        + markdown_table(header, rows) + "\n\n" + spread + more + "Goals:\n\n"
        + "\n".join(_goal_lines(runs, target)) + "\n")
    by_epochs = {f"({k}) {METHODS[k][0]}": [(r["curve"]["n"], r["curve"]["best"]) for r in v]
                 for k, v in runs.items()}
    by_time = {f"({k}) {METHODS[k][0]}": [(r["curve"]["t"], r["curve"]["best"]) for r in v]
               for k, v in runs.items()}
    ylim = (0.8, 1.0) if target > 0.9 else None
    plots = [
        plot_lines(out_dir / "b1_best_vs_epochs.png", by_epochs, xlabel="training epochs consumed",
                   ylabel="best validation accuracy so far", hline=target, ylim=ylim,
                   title="B1: best-so-far vs epochs (digits subset)"),
        plot_lines(out_dir / "b1_best_vs_wallclock.png", by_time, xlabel="seconds since start",
                   ylabel="best validation accuracy so far", hline=target, ylim=ylim,
                   title="B1: best-so-far vs wall-clock (digits subset)"),
    ]
    return Report("b1_search_efficiency", "B1: search efficiency", markdown, plots,
                  {"size": size, "seeds": seeds, "ray_start_s": ray_start_s, "pilot": pilot_data,
                   "ratio_epochs_to_target": epochs_ratio(runs), "runs": runs})


def pilot(out_dir: Path, trials: int = PILOT_TRIALS, epochs: int = 9) -> dict[str, Any]:
    """Random configurations of :data:`SPACE` trained ``epochs`` epochs each, in-process:
    their final accuracies (sorted) and percentiles, written to ``b1_pilot.json``. Used once,
    before the runs, to fix :data:`FULL`'s target (see the module docstring)."""
    import optuna
    import torch

    from benchmarks.datasets import digits_subset
    from raytuner.config import validate_experiment, with_params
    from raytuner.trial.loop import Trainer

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    base = validate_experiment(base_experiment(0, epochs, trials, "random", "fifo"))
    data = digits_subset(base.data, 0)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1234))
    finals: list[float] = []
    with LoadWatch() as load:
        for i in range(trials):
            trial = study.ask()
            params = _suggest(trial)
            value = 0.0
            for metrics in Trainer(with_params(base.model_copy(update={"seed": i}), params),
                                   data).epochs():
                value = metrics[METRIC]
            study.tell(trial, value)
            finals.append(value)
    ranked = sorted(finals)
    quantile = statistics.quantiles(ranked, n=100, method="inclusive")[PILOT_QUANTILE - 1]
    outcome = {"trials": trials, "epochs": epochs, "finals": ranked,
               "median": statistics.median(ranked), "percentile": PILOT_QUANTILE,
               "quantile": quantile, "best": ranked[-1],
               "target_rule": f"p{PILOT_QUANTILE} rounded down to 0.005",
               "target": math.floor(quantile * 200) / 200, **load.as_dict()}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "b1_pilot.json").write_text(json.dumps(outcome, indent=1) + "\n",
                                           encoding="utf-8")
    return outcome


if __name__ == "__main__":
    import argparse

    from benchmarks.common import RESULTS_DIR

    parser = argparse.ArgumentParser(description="B1's pilot of random configurations")
    parser.add_argument("--pilot", action="store_true", required=True)
    parser.add_argument("--trials", type=int, default=PILOT_TRIALS)
    args = parser.parse_args()
    print(json.dumps(pilot(RESULTS_DIR, args.trials), indent=1))
