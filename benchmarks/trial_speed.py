"""B3 trial speed: samples/s of raytuner's loop inside a Ray trial against a minimal bare
PyTorch loop on the same model, data and batch size, run in a process of its own (not in the
driver that hosts Ray's threads), one thread each as a trial with ``resources.cpu: 1`` gets.

Two rates each: the training part of an epoch (shuffle, forward, loss, backward, step), and the
whole epoch end to end (the bare loop adds an evaluation and ``torch.save`` of model and
optimizer, as pytorch/examples do; raytuner's is the rate between two epoch results seen by
the driver: evaluation, checkpoint and Tune's report included).

A third loop tells raytuner's own cost apart from Ray Tune's: the bare loop written as a plain
Ray Tune function trainable (``tune.report`` with a ``torch.save`` checkpoint every epoch, the
data through ``tune.with_parameters``), measured the same two ways. Tune's function trainables
report synchronously: training waits at every ``tune.report`` until the driver has processed
the result and asked for the next one, a cost every Tune trainable pays per epoch.

``python -m benchmarks.trial_speed EPOCHS`` runs the bare loop alone and prints its rates.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys
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


def _bare_setup(seed: int):
    """The bare loops' model, optimizer and data (raytuner's data and model code, so the
    three loops train exactly the same network on the same tensors)."""
    import torch

    from raytuner.config import DataConfig
    from raytuner.data import load_dataset
    from raytuner.models import create_model

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    data = load_dataset(DataConfig(name="digits"), seed)
    settings = {k: v for k, v in MODEL.items() if k != "name"}
    model = create_model("cnn", data.input_shape, data.num_classes, **settings)
    return model, torch.optim.Adam(model.parameters(), lr=LR), data


def _bare_epoch(model, optimizer, data, folder: str, epoch: int) -> tuple[float, float]:
    """One bare epoch: shuffle, forward, loss, backward, step; evaluate; ``torch.save`` of
    model and optimizer into ``folder``. Returns (training samples/s, validation accuracy)."""
    import torch
    import torch.nn.functional as F

    x_all, y_all = data.train_x, data.train_y
    n = len(y_all)
    model.train()
    start = time.perf_counter()
    order = torch.randperm(n)
    for i in range(0, n, BATCH):
        idx = order[i:i + BATCH]
        loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    rate = n / (time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        logits = model(data.val_x)
        F.cross_entropy(logits, data.val_y).item()
        accuracy = (logits.argmax(1) == data.val_y).float().mean().item()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "epoch": epoch + 1}, os.path.join(folder, "state.pt"))
    return rate, accuracy


def bare_loop(epochs: int, seed: int = 0) -> dict[str, list[float]]:
    """The minimal loop (:func:`_bare_epoch`) in this process. Samples/s of each epoch's
    training part (as raytuner's Trainer measures it) and of the whole epoch."""
    model, optimizer, data = _bare_setup(seed)
    n = len(data.train_y)
    train_rates, epoch_rates = [], []
    with tempfile.TemporaryDirectory(prefix="b3-bare-") as folder:
        for epoch in range(epochs):
            start = time.perf_counter()
            rate, _ = _bare_epoch(model, optimizer, data, folder, epoch)
            train_rates.append(rate)
            epoch_rates.append(n / (time.perf_counter() - start))
    return {"train": train_rates, "epoch": epoch_rates}


def bare_tune_trainable(config: dict[str, Any]) -> None:
    """The bare loop as a Ray Tune user writes it: every epoch a ``tune.report`` with the
    epoch's checkpoint folder."""
    from ray import tune

    model, optimizer, data = _bare_setup(0)
    for epoch in range(config["epochs"]):
        with tempfile.TemporaryDirectory(prefix="b3-tune-") as folder:
            rate, accuracy = _bare_epoch(model, optimizer, data, folder, epoch)
            tune.report({"epoch": epoch + 1, "val_accuracy": accuracy, "samples_per_s": rate},
                        checkpoint=tune.Checkpoint.from_directory(folder))


def bare_in_own_process(epochs: int) -> dict[str, list[float]]:
    """:func:`bare_loop` in a fresh Python process (its rates as JSON on stdout)."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.trial_speed", str(epochs)],
                          capture_output=True, text=True, check=True, timeout=1800,
                          cwd=Path(__file__).resolve().parents[1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
    return {"inside": [r.result["samples_per_s"] for r in ledger.records],
            "end_to_end": _end_to_end(ledger)}


@functools.cache
def _train_size() -> int:
    """Examples in the digits training split that every loop trains on."""
    from raytuner.config import DataConfig
    from raytuner.data import load_dataset

    return len(load_dataset(DataConfig(name="digits"), 0).train_y)


def _end_to_end(ledger: EpochLedger) -> float | None:
    """Training samples per second between the first and the last result the driver saw."""
    times = [r.t for r in ledger.records]
    if len(times) < 2:
        return None
    return _train_size() * (len(times) - 1) / (times[-1] - times[0])


def bare_tune_trial(epochs: int, storage: Path) -> dict[str, Any]:
    """One trial of :func:`bare_tune_trainable` through a bare ``Tuner`` (FIFO, one CPU,
    keep one checkpoint): its training rates and the end-to-end rate the driver sees."""
    from ray import tune

    ledger = EpochLedger("val_accuracy", keep_results=True)
    tuner = tune.Tuner(
        tune.with_resources(bare_tune_trainable, {"cpu": 1}),
        param_space={"epochs": epochs},
        tune_config=tune.TuneConfig(num_samples=1),
        run_config=tune.RunConfig(
            name="b3-bare-tune", storage_path=str(storage.resolve()), callbacks=[ledger],
            stop=ledger,  # the ledger records each result as Tune's stopper
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1), verbose=0))
    ledger.restart_clock()
    tuner.fit()
    return {"inside": [r.result["samples_per_s"] for r in ledger.records],
            "end_to_end": _end_to_end(ledger)}


def run(opts: Options) -> Report:
    """Interleave the bare loop, raytuner's trial and the bare Tune trial ``reps`` times;
    compare medians (the first epoch of each run is warm-up and left out)."""
    size = SMOKE if opts.smoke else FULL
    reps = opts.seeds or size["reps"]
    shutdown = ray_session()
    rates: dict[str, list[float]] = {k: [] for k in (
        "bare_train", "bare_epoch", "inside", "end_to_end", "tune_inside", "tune_end_to_end")}
    loads: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="b3-") as tmp:
            for rep in range(reps):
                with LoadWatch() as load:
                    bare = bare_in_own_process(size["epochs"])
                    trial = raytuner_trial(size["epochs"], Path(tmp) / str(rep))
                    tune_trial = bare_tune_trial(size["epochs"], Path(tmp) / f"tune-{rep}")
                rates["bare_train"] += bare["train"][1:]
                rates["bare_epoch"] += bare["epoch"][1:]
                for prefix, outcome in (("", trial), ("tune_", tune_trial)):
                    rates[f"{prefix}inside"] += outcome["inside"][1:]
                    if outcome["end_to_end"]:
                        rates[f"{prefix}end_to_end"].append(outcome["end_to_end"])
                loads.append(load.text())
    finally:
        shutdown()
    med = {k: statistics.median(v) if v else None for k, v in rates.items()}
    train_ref, epoch_ref, inside, e2e = (med[k] for k in (
        "bare_train", "bare_epoch", "inside", "end_to_end"))
    ratio = inside / train_ref
    e2e_ratio = e2e / epoch_ref if e2e else None
    tune_inside, tune_e2e = med["tune_inside"], med["tune_end_to_end"]
    rows = [["bare PyTorch loop, own process: training part", train_ref, 1.0, "", ""],
            ["bare loop as a bare Ray Tune trainable: training part", tune_inside,
             tune_inside / train_ref, "", ""],
            ["raytuner Trainer inside a Ray trial: training part", inside, ratio,
             f"{inside / tune_inside:.3f}",
             f">= 0.97: **{'met' if ratio >= 0.97 else 'missed'}**"],
            ["bare PyTorch loop: whole epoch (+ eval, torch.save)", epoch_ref, 1.0, "", ""]]
    if tune_e2e:
        rows.append(["bare Ray Tune trainable end to end (+ eval, torch.save, tune.report)",
                     tune_e2e, tune_e2e / epoch_ref, "", ""])
    if e2e:
        rows.append(["raytuner trial end to end (+ eval, checkpoint, Tune's report)", e2e,
                     e2e_ratio, f"{e2e / tune_e2e:.3f}" if tune_e2e else "",
                     f">= 0.90: **{'met' if e2e_ratio >= 0.90 else 'missed'}** "
                     f"({e2e / train_ref:.3f} of the bare training part alone)"])
    markdown = (
        f"Digits CNN ({MODEL}), full digits training split (80%), batch {BATCH}, Adam, "
        f"{size['epochs']} epochs per run, {reps} interleaved repetition(s), 1 thread each; "
        "the bare loop in a process of its own, then raytuner's trial, then the same bare "
        "loop as a bare Ray Tune function trainable (a `tune.report` with a checkpoint every "
        "epoch). Median samples/s over epochs 2.. of every run; ratios against the bare "
        "loop's same part, and raytuner against the bare Tune trainable's same part.\n\n"
        + markdown_table(["loop", "samples/s", "ratio", "raytuner / bare Tune", "goal"], rows)
        + "\n\nLoad: " + "; ".join(loads) + "\n")
    labels = ["bare train", "Tune train", "raytuner train", "bare epoch", "Tune e2e",
              "raytuner e2e"]
    plot = plot_bars(opts.out_dir / "b3_trial_speed.png", labels[:len(rows)],
                     [r[1] for r in rows], ylabel="samples / s", title="B3: training speed")
    return Report("b3_trial_speed", "B3: trial speed", markdown, [plot],
                  {**rates, "ratio_train": ratio, "ratio_end_to_end": e2e_ratio,
                   "ratio_train_vs_tune": inside / tune_inside,
                   "ratio_end_to_end_vs_tune": e2e / tune_e2e if e2e and tune_e2e else None,
                   "loads": loads})


if __name__ == "__main__":
    print(json.dumps(bare_loop(int(sys.argv[1]))))
