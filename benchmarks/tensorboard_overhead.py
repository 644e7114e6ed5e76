"""Overhead of raytuner's live TensorBoard aggregation on a real experiment.

Runs the experiment (default: experiments/digits.yaml) alternately without and with the
aggregation, in one Ray instance, and times the aggregation's own work inside the driver's
callback hooks. Prints one markdown table row::

    python benchmarks/tensorboard_overhead.py [--experiment FILE] [--repeats N] [--set k=v]

"Without" keeps Ray's TensorBoard logger off too (the aggregation replaces it), so the
difference is what the aggregation costs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ray.tune.logger import TBXLoggerCallback  # noqa: E402

import raytuner.tensorboard.callback as tb_callback  # noqa: E402

HOOKS = ("on_trial_start", "on_trial_result", "on_trial_complete", "on_trial_error",
         "on_step_end", "on_experiment_end")
_spent = {"s": 0.0}


class _NoTensorBoard(TBXLoggerCallback):
    """Stands in for the aggregation: a TBX logger that logs nothing, so Ray adds none."""

    def __init__(self, experiment, **_):
        pass

    def log_trial_start(self, trial) -> None:
        return None

    def log_trial_result(self, iteration, trial, result) -> None:
        return None

    def log_trial_end(self, trial, failed: bool = False) -> None:
        return None


class _TimedTensorBoard(tb_callback.TensorBoardCallback):
    """The real callback, with the time spent in its hooks added up."""


def _timed(name):
    original = getattr(tb_callback.TensorBoardCallback, name)

    def hook(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            _spent["s"] += time.perf_counter() - start

    return hook


for _name in HOOKS:
    setattr(_TimedTensorBoard, _name, _timed(_name))


def run_once(exp, storage: Path, name: str, aggregate: bool) -> tuple[float, float]:
    from raytuner.runs.launch import run

    tb_callback_class = _TimedTensorBoard if aggregate else _NoTensorBoard
    original = tb_callback.TensorBoardCallback
    tb_callback.TensorBoardCallback = tb_callback_class  # what experiment.py builds
    _spent["s"] = 0.0
    try:
        start = time.perf_counter()
        run(exp, storage=storage, name=name, overwrite=True,
                 shared_storage=True)  # one machine: every node shares its disk
        wall = time.perf_counter() - start
    finally:
        tb_callback.TensorBoardCallback = original
    return wall, _spent["s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(REPO / "experiments" / "digits.yaml"))
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    import ray

    from raytuner.config import load_experiment
    from raytuner.runs.ray_start import start_ray

    exp = load_experiment(args.experiment, args.overrides)
    ray.init(address="local", include_dashboard=False, logging_level="ERROR")
    start_ray(None)
    without, with_tb, hooks = [], [], []
    with tempfile.TemporaryDirectory(prefix="raytuner-bench-") as folder:
        for i in range(args.repeats):
            without.append(run_once(exp, Path(folder), f"off{i}", aggregate=False)[0])
            wall, spent = run_once(exp, Path(folder), f"on{i}", aggregate=True)
            with_tb.append(wall)
            hooks.append(spent / wall)
    off, on = statistics.median(without), statistics.median(with_tb)
    print("| benchmark | experiment | runs | wall without (s) | wall with (s) | "
          "wall overhead | time in aggregation hooks |")
    print("|---|---|---|---|---|---|---|")
    print(f"| tensorboard_overhead | {exp.name} ({exp.search.num_samples} trials) | "
          f"{args.repeats}+{args.repeats} | {off:.1f} | {on:.1f} | {100 * (on - off) / off:+.1f}% "
          f"| {100 * statistics.median(hooks):.2f}% of wall |")


if __name__ == "__main__":
    main()
