"""B3 trial speed: training samples/s of raytuner's loop inside a Ray trial against a minimal
bare PyTorch loop on the same model, data and batch size in one process (one thread each,
as a trial with ``resources.cpu: 1`` gets)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import LoadWatch, Options, Report, markdown_table, plot_bars, ray_session
from benchmarks.tracking import EpochLedger

MODEL = {"name": "cnn", "depth": 2, "channels": 32, "kernel_size": 3, "dropout": 0.1,
         "batch_norm": True, "hidden": 128}
BATCH, LR = 64, 0.003
FULL = {"epochs": 10, "reps": 3}
SMOKE = {"epochs": 2, "reps": 1}


def bare_loop(epochs: int, seed: int = 0) -> list[float]:
    """The minimal loop: shuffle, forward, loss, backward, step. Samples/s of each epoch's
    training part (as raytuner's Trainer measures it)."""
    import torch
    import torch.nn.functional as F

    from raytuner.config import DataConfig
    from raytuner.data import load_dataset
    from raytuner.models import create_model

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    data = load_dataset(DataConfig(name="digits"), seed)
    settings = {k: v for k, v in MODEL.items() if k != "name"}
    model = create_model("cnn", data.input_shape, data.num_classes, **settings)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    x_all, y_all = data.train_x, data.train_y
    n = len(y_all)
    rates = []
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(n)
        for i in range(0, n, BATCH):
            idx = order[i:i + BATCH]
            loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        rates.append(n / (time.perf_counter() - start))
    return rates


def raytuner_trial(epochs: int, storage: Path) -> dict[str, Any]:
    """One FIFO trial through ``raytuner.run``: the Trainer's samples/s per epoch (training
    part, measured inside the trial) and the end-to-end rate the driver sees between epoch
    results (adds evaluation, checkpoint and report)."""
    import raytuner
    from raytuner.config import validate_experiment

    exp = validate_experiment({
        "name": "b3", "seed": 0, "data": {"name": "digits"}, "model": dict(MODEL),
        "train": {"epochs": epochs, "batch_size": BATCH, "optimizer": "adam", "lr": LR},
        "search": {"algorithm": "random", "num_samples": 1, "max_concurrent": 1,
                   "scheduler": {"name": "fifo"}},
        "resources": {"cpu": 1, "gpu": 0}, "checkpoint": {"keep": 1},
        "failure": {"max_retries": 0}})
    ledger = EpochLedger("val_accuracy", keep_results=True)
    raytuner.run(exp, storage=storage, callbacks=[ledger], stop=ledger,
                 shared_storage=True,  # one machine: every node shares its disk
                          overwrite=True)
    inside = [r.result["samples_per_s"] for r in ledger.records]
    times = [r.t for r in ledger.records]
    end_to_end = None
    if len(times) > 1:
        from raytuner.config import DataConfig
        from raytuner.data import load_dataset

        n_train = len(load_dataset(DataConfig(name="digits"), 0).train_y)
        end_to_end = n_train * (len(times) - 1) / (times[-1] - times[0])
    return {"inside": inside, "end_to_end": end_to_end}


def run(opts: Options) -> Report:
    """Interleave bare and in-trial runs ``reps`` times; compare medians (first epoch of
    each run is warm-up and left out)."""
    size = SMOKE if opts.smoke else FULL
    reps = opts.seeds or size["reps"]
    shutdown = ray_session()
    bare_rates: list[float] = []
    inside_rates: list[float] = []
    end_to_end: list[float] = []
    loads: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="b3-") as tmp:
            for rep in range(reps):
                with LoadWatch() as load:
                    bare_rates += bare_loop(size["epochs"])[1:]
                    trial = raytuner_trial(size["epochs"], Path(tmp) / str(rep))
                inside_rates += trial["inside"][1:]
                if trial["end_to_end"]:
                    end_to_end.append(trial["end_to_end"])
                loads.append(load.text())
    finally:
        shutdown()
    bare = statistics.median(bare_rates)
    inside = statistics.median(inside_rates)
    ratio = inside / bare
    rows = [["bare PyTorch loop, driver process", bare, 1.0],
            ["raytuner Trainer inside a Ray trial (training part)", inside, ratio]]
    if end_to_end:
        e2e = statistics.median(end_to_end)
        rows.append(["raytuner trial end to end (+ eval, checkpoint, report)", e2e, e2e / bare])
    markdown = (
        f"Digits CNN ({MODEL}), full digits training split (80%), batch {BATCH}, Adam, "
        f"{size['epochs']} epochs per run, {reps} interleaved repetition(s), 1 thread each. "
        "Median samples/s over epochs 2.. of every run.\n\n"
        + markdown_table(["loop", "samples/s", "ratio to bare"], rows)
        + f"\n\nGoal: ratio >= 0.95 (training part): {ratio:.3f}, "
        f"**{'met' if ratio >= 0.95 else 'missed'}**.\n\nLoad: " + "; ".join(loads) + "\n")
    plot = plot_bars(opts.out_dir / "b3_trial_speed.png", [r[0].split(",")[0][:28] for r in rows],
                     [r[1] for r in rows], ylabel="samples / s", title="B3: training speed")
    return Report("b3_trial_speed", "B3: trial speed", markdown, [plot],
                  {"bare": bare_rates, "inside": inside_rates, "end_to_end": end_to_end,
                   "loads": loads})
