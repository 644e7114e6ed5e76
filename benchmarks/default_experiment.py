"""Issue 2's figures for the default experiment: per-trial start, per-report and per-checkpoint
costs, the total time of ``python -m raytuner run experiments/digits.yaml``, its best accuracy
and its time to 0.97 validation accuracy."""

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

from benchmarks.common import LoadWatch, Options, Report, markdown_table, ray_session
from benchmarks.digits_runs import DIGITS_YAML, REPO, SMOKE_OVERRIDES, run_digits

TARGET = 0.97
FULL_REPORTS, SMOKE_REPORTS = 50, 3


def run_cli(storage: Path, *, smoke: bool) -> dict[str, Any]:
    """Time the real command in a fresh process (its own Ray start included); best accuracy
    from ``summary.json``; time to the target from the trials' result timestamps (whole
    seconds in Ray's results, so +-1 s) relative to the command's start."""
    args = [sys.executable, "-m", "raytuner", "run", str(DIGITS_YAML), "--storage", str(storage),
            "--name", "digits-cli"]
    for override in SMOKE_OVERRIDES if smoke else []:
        args += ["--set", override]
    # RAY_ADDRESS=local: a Ray of its own, not the newest one running on this machine.
    env = {**os.environ, "RAY_ADDRESS": "local", "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    started = time.time()
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    total = time.time() - started
    if proc.returncode != 0:
        raise RuntimeError(f"raytuner run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    run_dir = storage / "digits-cli"
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    reached = []
    epochs = 0
    for result_file in run_dir.glob("trial_*/result.json"):
        for line in result_file.read_text(encoding="utf-8").splitlines():
            result = json.loads(line)
            epochs += 1
            if result.get("val_accuracy", 0) >= TARGET:
                reached.append(result["timestamp"] - started)
    return {"total_s": total, "wall_time_s": summary.get("wall_time_s"),
            "best": (summary.get("best") or {}).get("best"), "trials": summary["num_trials"],
            "epochs": epochs, "seconds_to_target": min(reached) if reached else None}


def cost_probe(config: dict[str, Any]) -> None:
    """A trainable that reports ``n`` times without a checkpoint, then ``n`` times with the
    default CNN's full training state as a checkpoint (as raytuner's adapter does), timing
    every call inside the trial; a last report carries the timings."""
    import tempfile as tmp

    from ray import tune

    from raytuner.config import validate_experiment
    from raytuner.data import load_dataset
    from raytuner.trial.checkpoint import save_state
    from raytuner.trial.loop import Trainer

    exp = validate_experiment(config["experiment"])
    trainer = Trainer(exp, load_dataset(exp.data, exp.seed))
    n = config["n"]
    plain, save, report_ckpt = [], [], []
    for i in range(n):
        start = time.perf_counter()
        tune.report({"step": i, "phase": 0})
        plain.append(time.perf_counter() - start)
    for i in range(n):
        with tmp.TemporaryDirectory(prefix="probe-") as folder:
            start = time.perf_counter()
            save_state(trainer.state_dict(), folder)
            mid = time.perf_counter()
            tune.report({"step": n + i, "phase": 1},
                        checkpoint=tune.Checkpoint.from_directory(folder))
            save.append(mid - start)
            report_ckpt.append(time.perf_counter() - mid)
    tune.report({"step": 2 * n, "phase": 2, "plain": plain, "save": save,
                 "report_ckpt": report_ckpt})


def run_probe(storage: Path, n: int) -> dict[str, list[float]]:
    """One probe trial with raytuner's Tune settings (actor reuse, keep 2 checkpoints)."""
    from ray import tune

    import raytuner

    exp = raytuner.load_experiment(DIGITS_YAML)
    tuner = tune.Tuner(
        tune.with_resources(cost_probe, {"cpu": 1}),
        param_space={"experiment": exp.to_dict(), "n": n},
        tune_config=tune.TuneConfig(num_samples=1, reuse_actors=True),
        run_config=tune.RunConfig(name="probe", storage_path=str(storage), verbose=0,
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=2)))
    last = tuner.fit()[0].metrics
    return {k: last[k] for k in ("plain", "save", "report_ckpt")}


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
    return f"{statistics.median(values) * 1000:.1f} (p90 {p90 * 1000:.1f})"


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} s [{min(values):.2f}, {max(values):.2f}]"


def run(opts: Options) -> Report:
    """CLI run (fresh process), API run with a ledger, and the cost probe."""
    n = SMOKE_REPORTS if opts.smoke else FULL_REPORTS
    with tempfile.TemporaryDirectory(prefix="default-") as tmp:
        with LoadWatch() as cli_load:
            cli = run_cli(Path(tmp), smoke=opts.smoke)
        shutdown = ray_session()
        try:
            with LoadWatch() as api_load:
                api = run_digits(Path(tmp), "digits-api", smoke=opts.smoke, target=TARGET)
            with LoadWatch() as probe_load:
                probe = run_probe(Path(tmp), n)
        finally:
            shutdown()
    # The first trials (as many as run at once) start a new actor process; later ones reuse one.
    fresh, reused = api["start_costs"][:2], api["start_costs"][2:]
    rows = [
        ["`python -m raytuner run experiments/digits.yaml`: total (fresh process, Ray start "
         "included)", f"{cli['total_s']:.1f} s", cli_load.text()],
        ["  of which `raytuner.run` (summary's wall_time_s)", f"{cli['wall_time_s']:.1f} s", ""],
        ["  trials / epochs", f"{cli['trials']} / {cli['epochs']}", ""],
        ["  best validation accuracy", f"{cli['best']:.4f}", ""],
        [f"  time to {TARGET} (result timestamps, +-1 s)",
         "never" if cli["seconds_to_target"] is None else f"{cli['seconds_to_target']:.0f} s",
         ""],
        ["same experiment via `raytuner.run` (Ray already up): wall", f"{api['wall_s']:.1f} s",
         api_load.text()],
        [f"  time to {TARGET} (driver clock)",
         "never" if api["seconds_to_target"] is None else f"{api['seconds_to_target']:.1f} s",
         ""],
        ["  best validation accuracy", f"{api['best']:.4f}", ""],
        ["per-trial start cost (trial start -> first result, less epoch 1's own time), "
         "reused actor: median [min, max]", _spread(reused), ""],
        ["  the first 2 trials (new actor process each)", _spread(fresh), ""],
        [f"per report, no checkpoint (`tune.report`, {n} calls): ms", _ms(probe["plain"]),
         probe_load.text()],
        ["per checkpoint: save full state (`save_state`, fsync): ms", _ms(probe["save"]), ""],
        ["per checkpoint: `tune.report` with the checkpoint: ms", _ms(probe["report_ckpt"]), ""],
    ]
    markdown = (("Smoke size (2 trials x 2 epochs): figures meaningless.\n\n" if opts.smoke
                 else "")
                + markdown_table(["figure", "value", "load (1/5/15-min)"], rows) + "\n")
    return Report("default_experiment", "Default experiment (issue 2 figures)", markdown, [],
                  {"cli": cli, "api": api, "probe": probe, "loads": {
                      "cli": cli_load.as_dict(), "api": api_load.as_dict(),
                      "probe": probe_load.as_dict()}})
