"""B4 logging overhead: the default digits experiment with raytuner's loggers on and off.

raytuner switches Ray Tune's automatic loggers off and writes its own: the CSV and JSON result
files of every trial (``CsvResultLogger``, ``JsonResultLogger``) and the TensorBoard
aggregation (``TensorBoardCallback``), all driver-side Tune callbacks built in
``raytuner.runs.tuner``. Each variant leaves some of them out of that list for the runs it
measures; the progress display stays in every variant (it is what the user watches, not a log).
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import LoadWatch, Options, Report, markdown_table, plot_bars, ray_session
from benchmarks.digits_runs import run_digits

ALL_ON = "raytuner's loggers on (CSV + JSON result files, TensorBoard aggregation)"
ALL_OFF = "all loggers off (progress display only)"
#: label -> the class names of raytuner's logger callbacks left out
VARIANTS: dict[str, tuple[str, ...]] = {
    ALL_ON: (),
    "TensorBoard aggregation off (result files only)": ("TensorBoardCallback",),
    ALL_OFF: ("TensorBoardCallback", "CsvResultLogger", "JsonResultLogger"),
}
GOAL_PERCENT = 5.0


@contextmanager
def loggers_left_out(names: tuple[str, ...]) -> Iterator[None]:
    """Runs started inside the block get raytuner's driver callbacks without those whose class
    is named in ``names`` (extra callbacks passed to ``raytuner.run`` are kept)."""
    from raytuner.runs import tuner

    shipped = tuner._callbacks

    def fewer(exp: Any, run_dir: Path, extra: list | None) -> list:
        keep = [cb for cb in shipped(exp, run_dir, None) if type(cb).__name__ not in names]
        return [*keep, *(extra or [])]

    tuner._callbacks = fewer
    try:
        yield
    finally:
        tuner._callbacks = shipped


def run(opts: Options) -> Report:
    """Each variant ``seeds`` times (default 2), order alternated between repetitions."""
    reps = opts.seeds or (1 if opts.smoke else 2)
    shutdown = ray_session()
    measured: dict[str, list[dict[str, Any]]] = {k: [] for k in VARIANTS}
    try:
        with tempfile.TemporaryDirectory(prefix="b4-") as tmp:
            for rep in range(reps):
                order = list(VARIANTS) if rep % 2 == 0 else list(reversed(VARIANTS))
                for label in order:
                    name = f"b4-{rep}-{list(VARIANTS).index(label)}"  # a folder per run
                    run_folder = Path(tmp) / name
                    with LoadWatch() as load, loggers_left_out(VARIANTS[label]):
                        outcome = run_digits(Path(tmp), name, smoke=opts.smoke)
                    outcome.update(load.as_dict())
                    # what the variant left out is really missing from the run folder
                    outcome["tensorboard_files"] = len(list(run_folder.rglob("events.out.*")))
                    outcome["result_json_files"] = len(list(run_folder.rglob("result.json")))
                    measured[label].append(outcome)
    finally:
        shutdown()
    return _report(measured, reps, opts)


def _per_epoch(outcome: dict[str, Any]) -> float:
    return outcome["wall_s"] / max(outcome["epochs"], 1)


def _report(measured: dict[str, list[dict[str, Any]]], reps: int, opts: Options) -> Report:
    base = statistics.median(_per_epoch(o) for o in measured[ALL_OFF])
    rows = []
    for label, outcomes in measured.items():
        per_epoch = statistics.median(_per_epoch(o) for o in outcomes)
        rows.append([label, statistics.median(o["wall_s"] for o in outcomes),
                     statistics.median(o["epochs"] for o in outcomes), per_epoch,
                     f"{(per_epoch / base - 1) * 100:+.1f}%",
                     "; ".join(f"{o['load_mean_1m']:.2f}" for o in outcomes)])
    on = statistics.median(_per_epoch(o) for o in measured[ALL_ON])
    overhead = (on / base - 1) * 100
    markdown = (
        f"`experiments/digits.yaml`{' (smoke: 2 trials x 2 epochs)' if opts.smoke else ''} "
        f"through `raytuner.run`, {reps} repetition(s) per variant, order alternated; the "
        "variants leave some of raytuner's driver-side logger callbacks out (Ray's own "
        "automatic loggers are off in every raytuner run). ASHA makes the number of epochs "
        "vary a little between runs, so the comparison is per epoch (run wall time / epochs "
        "reported).\n\n"
        + markdown_table(["variant", "wall s", "epochs", "s / epoch", "vs loggers off",
                          "mean 1-min load per run"], rows)
        + f"\n\nGoal: at most {GOAL_PERCENT:.0f}% overhead: raytuner's loggers cost "
        f"{overhead:+.1f}% per epoch, **{'met' if overhead <= GOAL_PERCENT else 'missed'}**.\n")
    plot = plot_bars(opts.out_dir / "b4_logging_overhead.png",
                     ["all on", "TB off", "all off"],
                     [statistics.median(_per_epoch(o) for o in v) for v in measured.values()],
                     ylabel="seconds per epoch (wall / epochs)", title="B4: logging overhead")
    return Report("b4_logging_overhead", "B4: logging overhead", markdown, [plot],
                  {"measured": measured, "overhead_percent": overhead})
