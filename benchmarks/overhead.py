"""B2 overhead: many short trials of a trivial trainable, trials per second.

Four ways: raytuner (``raytuner.run`` of an experiment whose trials cost almost nothing but
raytuner's own machinery: config, model, one epoch, a checkpoint and a report), the like-for-like
reference, a bare Ray Tune ``Tuner`` with actor reuse whose trainable does the same work by hand
(builds the same 4-unit MLP, trains it one epoch on the same 12 samples, evaluates, saves model
and optimizer as a checkpoint, reports it; the same random search of the learning rate, two
trials at a time, keep 1 checkpoint), and two bare ``Tuner`` s on a trainable that only reports
(with actor reuse, and with Tune's defaults: a fresh actor process per trial). All share one
Ray instance started before the clock runs.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    LoadWatch,
    Options,
    Report,
    markdown_table,
    plot_bars,
    ray_session,
)
from benchmarks.tracking import EpochLedger

FULL_TRIALS = 200
SMOKE_TRIALS = 4


def trivial_experiment(num_trials: int, *, name: str, epochs: int = 1, scheduler: str = "fifo",
                       algorithm: str = "random", max_concurrent: int | None = None
                       ) -> dict[str, Any]:
    """A raytuner experiment of ``num_trials`` trials that each train a 4-unit MLP on 12
    samples (``benchmarks.datasets:trivial``): what is left is raytuner's per-trial cost."""
    sched: dict[str, Any] = {"name": scheduler}
    if scheduler == "asha":
        sched.update(grace_period=1, reduction_factor=2)
    return {
        "name": name, "seed": 0,
        "data": {"name": "benchmarks.datasets:trivial"},
        "model": {"name": "mlp", "depth": 1, "width": 4},
        "train": {"epochs": epochs, "batch_size": 16, "optimizer": "adam", "lr": 0.01},
        "search": {"algorithm": algorithm, "metric": "val_accuracy", "mode": "max",
                   "num_samples": num_trials, "max_concurrent": max_concurrent,
                   "scheduler": sched, "space": {"train.lr": {"loguniform": [1e-3, 1e-1]}}},
        "resources": {"cpu": 1, "gpu": 0},
        "checkpoint": {"keep": 1},
        "failure": {"max_retries": 0},
    }


def bare_trainable(config: dict[str, Any]) -> None:
    """The trivial bare Ray Tune trainable: one report, no work."""
    from ray import tune

    tune.report({"score": config["x"]})


def same_work_trainable(config: dict[str, Any], data: dict[str, Any]) -> None:
    """What raytuner's trivial trial does, written by hand: model, one epoch, a checkpoint."""
    import os
    import tempfile as tmp

    import torch
    import torch.nn.functional as F
    from ray import tune
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    model.train()
    loss = F.cross_entropy(model(data["train_x"]), data["train_y"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        logits = model(data["val_x"])
    accuracy = (logits.argmax(1) == data["val_y"]).float().mean().item()
    with tmp.TemporaryDirectory() as folder:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "epoch": 1}, os.path.join(folder, "state.pt"))
        tune.report({"epoch": 1, "train_loss": loss.item(), "val_accuracy": accuracy},
                    checkpoint=tune.Checkpoint.from_directory(folder))


def run_same_work(num_trials: int, storage: Path) -> dict[str, Any]:
    """The like-for-like bare ``Tuner`` (see the module docstring)."""
    from ray import tune

    from benchmarks.datasets import trivial

    bundle = trivial(None, 0)
    data = {"train_x": bundle.train_x, "train_y": bundle.train_y, "val_x": bundle.val_x,
            "val_y": bundle.val_y}
    start = time.monotonic()
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(same_work_trainable, data=data), {"cpu": 1}),
        param_space={"lr": tune.loguniform(1e-3, 1e-1)},
        tune_config=tune.TuneConfig(metric="val_accuracy", mode="max", num_samples=num_trials,
                                    max_concurrent_trials=2, reuse_actors=True),
        run_config=tune.RunConfig(name="b2-bare-same-work", storage_path=str(storage),
                                  verbose=0, checkpoint_config=tune.CheckpointConfig(
                                      num_to_keep=1)))
    results = tuner.fit()
    return {"seconds": time.monotonic() - start, "trials": len(results),
            "seconds_to_last_result": None}


def run_raytuner(num_trials: int, storage: Path) -> dict[str, Any]:
    """``raytuner.run`` of the trivial experiment; total and until-last-result seconds."""
    import raytuner
    from raytuner.config import validate_experiment

    exp = validate_experiment(trivial_experiment(num_trials, name="b2-raytuner"))
    ledger = EpochLedger("val_accuracy")
    ledger.restart_clock()
    result = raytuner.run(exp, storage=storage, callbacks=[ledger], stop=ledger,
                 shared_storage=True,  # one machine: every node shares its disk
                          overwrite=True)
    total = time.monotonic() - ledger.t0
    done = result.summary["num_trials"]
    return {"seconds": total, "trials": done,
            "seconds_to_last_result": ledger.records[-1].t if ledger.records else None}


def run_bare(num_trials: int, storage: Path, *, reuse: bool) -> dict[str, Any]:
    """A bare ``Tuner`` on the trivial trainable, default settings except ``reuse_actors``."""
    from ray import tune

    start = time.monotonic()
    tuner = tune.Tuner(
        bare_trainable, param_space={"x": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=num_trials,
                                    reuse_actors=reuse),
        run_config=tune.RunConfig(name=f"b2-bare-{'reuse' if reuse else 'default'}",
                                  storage_path=str(storage), verbose=0))
    results = tuner.fit()
    return {"seconds": time.monotonic() - start, "trials": len(results),
            "seconds_to_last_result": None}


SAME_WORK = "bare Tuner, reuse_actors=True, same work"
VARIANTS = {
    "raytuner": lambda n, s: run_raytuner(n, s),
    SAME_WORK: lambda n, s: run_same_work(n, s),
    "bare Tuner, reuse_actors=True": lambda n, s: run_bare(n, s, reuse=True),
    "bare Tuner, defaults (no reuse)": lambda n, s: run_bare(n, s, reuse=False),
}


def run(opts: Options) -> Report:
    """Each variant ``seeds`` times (default once); trials/s and ratios."""
    # "--trials N" for every variant, or "N,M": M trials for the slow no-reuse variant (its
    # per-trial cost is a process start, the same for every trial, so its rate needs fewer).
    counts = str(opts.extra.get("trials") or (SMOKE_TRIALS if opts.smoke else FULL_TRIALS))
    num_trials, *rest = (int(x) for x in counts.split(","))
    per_variant = {label: num_trials for label in VARIANTS}
    per_variant["bare Tuner, defaults (no reuse)"] = rest[0] if rest else num_trials
    reps = opts.seeds or 1
    shutdown = ray_session()
    measured: dict[str, list[dict[str, Any]]] = {k: [] for k in VARIANTS}
    try:
        with tempfile.TemporaryDirectory(prefix="b2-") as tmp:
            for rep in range(reps):
                # alternate the order so that a Ray session's growing state or a drifting load
                # favours no variant
                order = list(VARIANTS.items())
                for label, fn in order if rep % 2 == 0 else order[::-1]:
                    with LoadWatch() as load:
                        outcome = fn(per_variant[label], Path(tmp) / f"{rep}")
                    outcome.update(load.as_dict(), rate=outcome["trials"] / outcome["seconds"],
                                   asked=per_variant[label])
                    measured[label].append(outcome)
    finally:
        shutdown()
    return _report(measured, num_trials, reps, opts.out_dir)


def _report(measured: dict[str, list[dict[str, Any]]], num_trials: int, reps: int,
            out_dir: Path) -> Report:
    rate = {k: statistics.median(r["rate"] for r in v) for k, v in measured.items()}
    ours = rate["raytuner"]
    rows = []
    for label, outcomes in measured.items():
        rows.append([label, outcomes[0]["asked"], statistics.median(o["trials"] for o in outcomes),
                     statistics.median(o["seconds"] for o in outcomes), rate[label],
                     ours / rate[label],
                     "; ".join(f"{o['load_before'][0]:.2f} -> {o['load_after'][0]:.2f} "
                               f"(mean {o['load_mean_1m']:.2f})" for o in outcomes)])
    header = ["variant", "trials asked", "trials run", "seconds", "trials/s",
              "raytuner / this", "1-min load before -> after (mean during)"]
    vs_default = ours / rate["bare Tuner, defaults (no reuse)"]
    vs_reuse = ours / rate["bare Tuner, reuse_actors=True"]
    vs_same = ours / rate[SAME_WORK]
    goals = (f"- raytuner vs the bare Tuner with actor reuse doing the same work: "
             f"{vs_same:.2f}x, goal >= 0.90x: **{'met' if vs_same >= 0.9 else 'missed'}**.\n"
             f"- for scale: raytuner vs a bare trainable that only reports, with actor reuse "
             f"{vs_reuse:.2f}x, with Tune's defaults {vs_default:.1f}x.\n")
    extra = ""
    if measured["raytuner"][0].get("seconds_to_last_result"):
        last = statistics.median(o["seconds_to_last_result"] for o in measured["raytuner"])
        extra = (f"\nraytuner's seconds include building `summary.json` after the last trial "
                 f"(the last result arrived after {last:.1f} s, median).\n")
    markdown = (f"{num_trials} trivial trials per variant (see 'trials asked'), {reps} "
                f"repetition(s), one shared "
                f"local Ray (2 CPUs) started before the clock; seconds from building the "
                f"Tuner (or calling `raytuner.run`) to its return.\n\n"
                + markdown_table(header, rows) + "\n" + extra + "\nGoals:\n\n" + goals)
    plot = plot_bars(out_dir / "b2_overhead.png",
                     ["raytuner", "bare same work", "bare reuse", "bare default"],
                     [rate[k] for k in VARIANTS], ylabel="trials / s",
                     title=f"B2: {num_trials} trivial trials")
    return Report("b2_overhead", "B2: per-trial overhead", markdown, [plot],
                  {"num_trials": num_trials, "measured": measured, "rates": rate,
                   "ratio_same_work": vs_same, "ratio_report_only_reuse": vs_reuse,
                   "ratio_default": vs_default})
