"""B4 logging overhead: the default digits experiment with logging on and off.

On this branch "logging" is Ray Tune's automatic logger callbacks (CSV, JSON and TensorBoard
event files per trial), switched with ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``. raytuner's own
TensorBoard aggregation (a driver-side Tune callback, built on another branch) plugs in with
``--tb-aggregation pkg.module:Factory`` (a zero-argument callable returning the callback): the
variant "default loggers + TB aggregation" is then measured too.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import LoadWatch, Options, Report, markdown_table, plot_bars, ray_session
from benchmarks.digits_runs import default_loggers, run_digits

# Name of the flag that switches raytuner's TensorBoard aggregation into the measurement.
TB_AGGREGATION_FLAG = "--tb-aggregation"


def variants(tb_aggregation: str | None) -> dict[str, tuple[bool, str | None]]:
    """label -> (Ray's default loggers on?, aggregation callback import path or None)."""
    out: dict[str, tuple[bool, str | None]] = {
        "Ray default loggers on": (True, None),
        "all loggers off": (False, None),
    }
    if tb_aggregation:
        out["default loggers + TB aggregation"] = (True, tb_aggregation)
    return out


def _callbacks(spec: str | None) -> list:
    if not spec:
        return []
    from raytuner.registry import import_object

    return [import_object(spec, path=TB_AGGREGATION_FLAG)()]


def run(opts: Options) -> Report:
    """Each variant ``seeds`` times (default 2), order alternated between repetitions."""
    reps = opts.seeds or (1 if opts.smoke else 2)
    chosen = variants(opts.extra.get("tb_aggregation"))
    shutdown = ray_session()
    measured: dict[str, list[dict[str, Any]]] = {k: [] for k in chosen}
    try:
        with tempfile.TemporaryDirectory(prefix="b4-") as tmp:
            for rep in range(reps):
                order = list(chosen) if rep % 2 == 0 else list(reversed(chosen))
                for label in order:
                    loggers, spec = chosen[label]
                    with LoadWatch() as load, default_loggers(loggers):
                        outcome = run_digits(Path(tmp), f"b4-{rep}-{len(measured[label])}",
                                             smoke=opts.smoke, callbacks=_callbacks(spec))
                    outcome.update(load.as_dict())
                    measured[label].append(outcome)
    finally:
        shutdown()
    return _report(measured, reps, opts)


def _per_epoch(outcome: dict[str, Any]) -> float:
    return outcome["wall_s"] / max(outcome["epochs"], 1)


def _report(measured: dict[str, list[dict[str, Any]]], reps: int, opts: Options) -> Report:
    base = statistics.median(_per_epoch(o) for o in measured["all loggers off"])
    rows = []
    for label, outcomes in measured.items():
        per_epoch = statistics.median(_per_epoch(o) for o in outcomes)
        rows.append([label, statistics.median(o["wall_s"] for o in outcomes),
                     statistics.median(o["epochs"] for o in outcomes), per_epoch,
                     f"{(per_epoch / base - 1) * 100:+.1f}%",
                     "; ".join(f"{o['load_mean_1m']:.2f}" for o in outcomes)])
    on = statistics.median(_per_epoch(o) for o in measured["Ray default loggers on"])
    overhead = (on / base - 1) * 100
    markdown = (
        f"`experiments/digits.yaml`{' (smoke: 2 trials x 2 epochs)' if opts.smoke else ''} "
        f"through `raytuner.run`, {reps} repetition(s) per variant, order alternated. ASHA "
        "makes the number of epochs vary a little between runs, so the comparison is per "
        "epoch (run wall time / epochs reported).\n\n"
        + markdown_table(["variant", "wall s", "epochs", "s / epoch", "vs loggers off",
                          "mean 1-min load per run"], rows)
        + f"\n\nGoal: at most 5% overhead: Ray's default loggers cost {overhead:+.1f}% per epoch, "
        f"**{'met' if overhead <= 5 else 'missed'}**. raytuner's TensorBoard aggregation is "
        f"measured only with `{TB_AGGREGATION_FLAG}` (built on another branch).\n")
    plot = plot_bars(opts.out_dir / "b4_logging_overhead.png", list(measured),
                     [statistics.median(_per_epoch(o) for o in v) for v in measured.values()],
                     ylabel="seconds per epoch (wall / epochs)", title="B4: logging overhead")
    return Report("b4_logging_overhead", "B4: logging overhead", markdown, [plot],
                  {"measured": measured})
