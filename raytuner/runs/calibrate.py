"""The measurements behind ``raytuner plan``'s wall-clock, taken in a child process.

``python -m raytuner.runs.calibrate`` reads a resolved experiment (JSON) on its standard input
and prints one JSON object of seconds, measured on this machine the way a run spends them:

- ``import_s``: importing what a trial process imports (torch, Ray Tune, the training loop);
- ``first_trainer_s``: building the first trainer of a process (torch loads its optimizer
  machinery on first use);
- ``epochs``: one epoch (training + evaluation) of the base configuration and of the space's
  two corners (every top-level searched key at its first, then at its last value), so the plan
  brackets the epoch times the trials will see;
- ``checkpoint_s``: writing one checkpoint of the base configuration's full state;
- ``ray_start_s``: starting a local Ray (no dashboard), as ``raytuner run`` does;
- ``actor_start_s`` and ``report_s``: a probe trial in a real Tune run (actor reuse, keep 2
  checkpoints): the time from ``fit()`` to its first result, and the median time between two
  results that each carry a checkpoint of the base configuration's size, training excluded
  (Tune's round trip: persisting and registering the checkpoint, the driver's loop).

A child process, so that ``raytuner plan`` itself never imports torch or Ray, and the figures
include the imports a fresh process pays.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from typing import Any

from raytuner.config.schema import Experiment


def corner_params(exp: Experiment, end: int) -> dict[str, Any]:
    """``{path: value}`` with every top-level searched key at its first (``end=0``) or last
    (``end=-1``) representative value."""
    return {param.path: param.representative_values()[end] for param in exp.space}


def _epoch_seconds(exp: Experiment, data: Any, device: str) -> tuple[float, Any]:
    from raytuner.trial.loop import Trainer

    trainer = Trainer(exp, data, device)
    return float(trainer.run_epoch()["epoch_time_s"]), trainer


def measure(exp: Experiment) -> dict[str, Any]:
    """Every figure of the module docstring for ``exp``."""
    start = time.perf_counter()
    import torch

    import raytuner.trial.trainable  # noqa: F401  (what a trial process imports)
    from raytuner.config.validate import with_params
    from raytuner.data import load_dataset
    from raytuner.trial.checkpoint import save_state
    from raytuner.trial.loop import Trainer

    out: dict[str, Any] = {"import_s": time.perf_counter() - start,
                           "cuda_devices": torch.cuda.device_count()}
    torch.set_num_threads(max(1, int(exp.resources.cpu)))
    device = "cuda" if exp.resources.gpu > 0 and torch.cuda.is_available() else "cpu"
    data = load_dataset(exp.data, exp.seed)
    start = time.perf_counter()
    Trainer(exp, data, device)
    out["first_trainer_s"] = time.perf_counter() - start
    base, trainer = _epoch_seconds(exp, data, device)
    epochs = {"base": base}
    for name, end in (("first corner", 0), ("last corner", -1)):
        if exp.space:
            corner = with_params(exp, corner_params(exp, end))
            epochs[name] = _epoch_seconds(corner, data, device)[0]
    out["epochs"] = epochs
    with tempfile.TemporaryDirectory(prefix="raytuner-calibrate-") as folder:
        start = time.perf_counter()
        save_state(trainer.state_dict(), folder, durable=False)
        out["checkpoint_s"] = time.perf_counter() - start
    numel = sum(p.numel() for p in trainer.model.parameters())
    out.update(_ray_costs(numel))
    return out


def report_probe(config: dict[str, Any]) -> None:
    """The probe trial: ``reports`` results, each with a checkpoint of ``numel`` floats,
    stamped with the wall-clock time of the report."""
    import torch
    from ray import tune

    from raytuner.trial.checkpoint import save_state

    weights = torch.zeros(config["numel"])
    for step in range(config["reports"]):
        with tempfile.TemporaryDirectory(prefix="raytuner-probe-") as folder:
            save_state({"epoch": step, "weights": weights}, folder, durable=False)
            tune.report({"step": step, "stamp": time.time()},
                        checkpoint=tune.Checkpoint.from_directory(folder))


def _ray_costs(numel: int, reports: int = 12) -> dict[str, float]:
    import logging
    import os

    import ray
    from ray import tune

    start = time.perf_counter()
    ray.init(address="local", num_cpus=1, include_dashboard=False,
             logging_level=logging.ERROR, log_to_driver=False)
    out = {"ray_start_s": time.perf_counter() - start}
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    stamps: list[float] = []

    class Stamps(tune.Callback):
        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                            **info: Any) -> None:
            stamps.append(result["stamp"])

    try:
        with tempfile.TemporaryDirectory(prefix="raytuner-calibrate-") as storage:
            tuner = tune.Tuner(
                tune.with_resources(report_probe, {"cpu": 1}),
                param_space={"numel": numel, "reports": reports},
                tune_config=tune.TuneConfig(num_samples=1, reuse_actors=True),
                run_config=tune.RunConfig(name="probe", storage_path=storage, verbose=0,
                                          callbacks=[Stamps()],
                                          checkpoint_config=tune.CheckpointConfig(
                                              num_to_keep=2)))
            fit_start = time.time()
            tuner.fit()
    finally:
        ray.shutdown()
    stamps.sort()
    out["actor_start_s"] = stamps[0] - fit_start
    out["report_s"] = statistics.median(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    return out


def main() -> int:
    """Measure the costs of the experiment read from standard input; print them as JSON."""
    from raytuner.config import validate_experiment

    exp = validate_experiment(json.load(sys.stdin), source="<plan calibration>")
    print(json.dumps(measure(exp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
