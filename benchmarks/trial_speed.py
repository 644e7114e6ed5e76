"""B3 trial speed: samples/s of raytuner's loop inside a Ray trial against a minimal bare
PyTorch loop on the same model, data and batch size, run in a process of its own (not in the
driver that hosts Ray's threads), one thread each as a trial with ``resources.cpu: 1`` gets.

Two rates each: the training part of an epoch (shuffle, forward, loss, backward, step), and the
whole epoch end to end (the bare loop adds an evaluation and ``torch.save`` of model and
optimizer, as pytorch/examples do; raytuner's is the rate between two epoch results seen by
the driver: evaluation, checkpoint and Tune's report included).

``python -m benchmarks.trial_speed EPOCHS`` runs the bare loop alone and prints its rates.
"""

from __future__ import annotations

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


def bare_loop(epochs: int, seed: int = 0) -> dict[str, list[float]]:
    """The minimal loop: shuffle, forward, loss, backward, step; then evaluate and save a
    checkpoint. Samples/s of each epoch's training part (as raytuner's Trainer measures it)
    and of the whole epoch."""
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
    train_rates, epoch_rates = [], []
    with tempfile.TemporaryDirectory(prefix="b3-bare-") as folder:
        for epoch in range(epochs):
            model.train()
            start = time.perf_counter()
            order = torch.randperm(n)
            for i in range(0, n, BATCH):
                idx = order[i:i + BATCH]
                loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            train_rates.append(n / (time.perf_counter() - start))
            model.eval()
            with torch.no_grad():
                logits = model(data.val_x)
                F.cross_entropy(logits, data.val_y).item()
                (logits.argmax(1) == data.val_y).float().mean().item()
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "epoch": epoch + 1}, os.path.join(folder, "state.pt"))
            epoch_rates.append(n / (time.perf_counter() - start))
    return {"train": train_rates, "epoch": epoch_rates}


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
    bare_train: list[float] = []
    bare_epoch: list[float] = []
    inside_rates: list[float] = []
    end_to_end: list[float] = []
    loads: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="b3-") as tmp:
            for rep in range(reps):
                with LoadWatch() as load:
                    bare = bare_in_own_process(size["epochs"])
                    trial = raytuner_trial(size["epochs"], Path(tmp) / str(rep))
                bare_train += bare["train"][1:]
                bare_epoch += bare["epoch"][1:]
                inside_rates += trial["inside"][1:]
                if trial["end_to_end"]:
                    end_to_end.append(trial["end_to_end"])
                loads.append(load.text())
    finally:
        shutdown()
    train_ref, epoch_ref = statistics.median(bare_train), statistics.median(bare_epoch)
    inside = statistics.median(inside_rates)
    ratio = inside / train_ref
    e2e = statistics.median(end_to_end) if end_to_end else None
    e2e_ratio = e2e / epoch_ref if e2e else None
    rows = [["bare PyTorch loop, own process: training part", train_ref, 1.0, ""],
            ["raytuner Trainer inside a Ray trial: training part", inside, ratio,
             f">= 0.97: **{'met' if ratio >= 0.97 else 'missed'}**"],
            ["bare PyTorch loop: whole epoch (+ eval, torch.save)", epoch_ref, 1.0, ""]]
    if e2e:
        rows.append(["raytuner trial end to end (+ eval, checkpoint, Tune's report)", e2e,
                     e2e_ratio, f">= 0.90: **{'met' if e2e_ratio >= 0.90 else 'missed'}** "
                     f"({e2e / train_ref:.3f} of the bare training part alone)"])
    markdown = (
        f"Digits CNN ({MODEL}), full digits training split (80%), batch {BATCH}, Adam, "
        f"{size['epochs']} epochs per run, {reps} interleaved repetition(s), 1 thread each; "
        "the bare loop in a process of its own. Median samples/s over epochs 2.. of every "
        "run; ratios against the bare loop's same part.\n\n"
        + markdown_table(["loop", "samples/s", "ratio", "goal"], rows)
        + "\n\nLoad: " + "; ".join(loads) + "\n")
    plot = plot_bars(opts.out_dir / "b3_trial_speed.png",
                     ["bare train", "raytuner train", "bare epoch", "raytuner e2e"][:len(rows)],
                     [r[1] for r in rows], ylabel="samples / s", title="B3: training speed")
    return Report("b3_trial_speed", "B3: trial speed", markdown, [plot],
                  {"bare_train": bare_train, "bare_epoch": bare_epoch, "inside": inside_rates,
                   "end_to_end": end_to_end, "ratio_train": ratio, "ratio_end_to_end": e2e_ratio,
                   "loads": loads})


if __name__ == "__main__":
    print(json.dumps(bare_loop(int(sys.argv[1]))))
