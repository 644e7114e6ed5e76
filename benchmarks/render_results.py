"""``python -m benchmarks.render_results``: write ``benchmarks/RESULTS.md`` from what the
benchmarks stored in ``benchmarks/results/`` (their ``<name>.md`` tables and ``<name>.json``
figures), so that no figure on the page is typed by hand.

The page holds a summary of every goal (ratio and verdict, read from the JSON files), then each
benchmark's own table with the command that reproduces it. The prose here says what a figure
means and never states a figure itself; a benchmark that has not stored a result is listed as
not measured.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR

PAGE = RESULTS_DIR.parent / "RESULTS.md"

#: (result name, title, what it measures), in the page's order; the command that reproduces a
#: result is the one its benchmark stored with it (``python -m benchmarks`` stores its argv)
SECTIONS: list[tuple[str, str, str]] = [
    ("default_experiment", "The default job against hand-written Ray Tune",
     "`raytuner run experiments/digits.yaml` and `benchmarks/bare_tune_digits.py` (the same "
     "job written by hand with Ray Tune: its own data code, CNN and loop, HyperOpt + ASHA, "
     "actor reuse, `with_parameters`, a checkpoint per epoch) in fresh processes, alternating; "
     "then `raytuner plan` of the same file. The two searches draw different configurations "
     "(HyperOpt over raytuner's nested optimizer choice, over a flat one by hand), so the "
     "epochs ASHA lets run and their cost differ: the row 'inside a trial, per epoch, beyond "
     "training + evaluation' compares the two tools' own costs, the row after it the cost of "
     "the configurations each search chose."),
    ("b2_overhead", "B2: per-trial overhead of short trials",
     "Trivial trials (a 4-unit MLP, one epoch on 12 samples, a checkpoint, a report) through "
     "`raytuner.run` against a bare `Tuner` with actor reuse doing the same work by hand; for "
     "scale, bare trainables that only report."),
    ("b3_trial_speed", "B3: trial speed",
     "Samples/s of raytuner's training loop inside a Ray trial against a bare PyTorch loop in "
     "a process of its own and against the same bare loop as a bare Ray Tune trainable; "
     "training part and whole epoch."),
    ("b1_search_efficiency", "B1: search efficiency",
     "Best validation accuracy against training epochs spent, per method, same budget."),
    ("b5_scale", "B5: scale",
     "Many trivial trials back to back: trials/s and the memory of the driver and of Ray's "
     "GCS and raylet."),
    ("b6_population", "B6: PBT and PB2 against ASHA",
     "Population-based training (PBT, PB2) against ASHA on B1's task, all with the same "
     "epoch budget: best accuracy at 25/50/100% of the budget."),
    ("b7_multi_objective", "B7: multi-objective search, MOASHA + Optuna against random + FIFO",
     "Accuracy against parameter count on B1's task, both with the same epoch budget: the "
     "hypervolume of the front at 25/50/100% of the budget, and MOASHA + Optuna's as a ratio "
     "of random + FIFO's on the same seed."),
    ("chaos", "Chaos soak: killed workers and a killed driver",
     "100 short trials while trial workers are SIGKILLed at random and the driver once, then "
     "`raytuner resume`; the checks say whether anything was lost."),
    ("b4_logging_overhead", "B4: logging overhead",
     "The default experiment with raytuner's loggers (result files, TensorBoard aggregation) "
     "on and off."),
]

#: (result name, JSON key, goal text, comparison, threshold): the goals of issue 13
GOALS: list[tuple[str, str, str, str, float]] = [
    ("default_experiment", "ratio_total", "default job, whole command, vs hand-written Ray Tune",
     "<=", 1.10),
    ("default_experiment", "ratio_total_flat",
     "default job, whole command, both on the hand-written script's flat space (same search)",
     "<=", 1.10),
    ("default_experiment", "ratio_per_epoch",
     "default job, time inside the run per epoch, vs hand-written Ray Tune", "<=", 1.10),
    ("default_experiment", "ratio_overhead_per_epoch",
     "default job, a trial's own cost per epoch beyond training (like for like)", "<=", 1.10),
    ("b3_trial_speed", "ratio_train", "trial loop, training part, vs bare PyTorch", ">=", 0.97),
    ("b3_trial_speed", "ratio_end_to_end", "trial loop end to end vs bare PyTorch", ">=",
     0.90),
    ("b3_trial_speed", "ratio_end_to_end_vs_tune",
     "trial loop end to end vs the same bare loop as a bare Ray Tune trainable", ">=", 0.90),
    ("b4_logging_overhead", "overhead_percent",
     "raytuner's loggers: extra time per epoch of the default job, %", "<=", 5.0),
    ("b2_overhead", "ratio_same_work", "short trials vs bare Tuner (reuse, same work)", ">=",
     0.90),
    ("b1_search_efficiency", "ratio_epochs_to_target",
     "B1: HyperOpt + ASHA's epochs to the target over random + FIFO's (medians)", "<=", 0.333),
]


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _table_of(results: Path, name: str) -> str | None:
    """The benchmark's own markdown (its first heading dropped: the page gives its own), with
    image links made relative to the page."""
    path = results / f"{name}.md"
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").split("\n", 1)[1].strip()
    return re.sub(r"!\[([^\]]*)\]\(([^)/]+)\)", r"![\1](results/\2)", text)


def _goal_rows(results: Path) -> list[str]:
    rows = ["| goal | measured | threshold | verdict |", "|---|---|---|---|"]
    for name, key, text, op, threshold in GOALS:
        data = _load(results, name) or {}
        value = data.get(key)
        if value is None:
            rows.append(f"| {text} | not measured | {op} {threshold} | - |")
            continue
        met = value <= threshold if op == "<=" else value >= threshold
        rows.append(f"| {text} | {value:.3f} | {op} {threshold} | "
                    f"**{'met' if met else 'missed'}** |")
    default = _load(results, "default_experiment") or {}
    if "plan_contains_runs" in default:
        verdict = "met" if default["plan_contains_runs"] else "missed"
        rows.append("| `raytuner plan` bounds contain the default job's time inside the run | "
                    f"see below | all runs | **{verdict}** |")
    first = default.get("first_result_s") or {}
    if first.get("raytuner") is not None and first.get("bare") is not None:
        later = first["raytuner"] - first["bare"]
        rows.append(f"| default job: first result no later than hand-written Ray Tune | "
                    f"{later:+.2f} s | <= 0 s | **{'met' if later <= 0 else 'missed'}** |")
    return rows


def render(results: Path = RESULTS_DIR) -> str:
    """The page, from the result files in ``results``; result files no section names (other
    benchmarks', e.g. a chaos soak's) follow the known ones under their own title."""
    known = {name for name, *_ in SECTIONS} | {"gpu_check"}
    extra_sections = []
    for path in sorted(results.glob("*.md")):
        if path.stem not in known:
            first = path.read_text(encoding="utf-8").split("\n", 1)[0].lstrip("# ").strip()
            extra_sections.append((first or path.stem, _table_of(results, path.stem) or ""))
    parts = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks.render_results` from the files the benchmarks "
        "stored in [`results/`](results/): every figure below is copied from a benchmark's own "
        "output, none typed by hand. Each table's first line gives the date, the machine "
        "(cores, Python, torch, Ray) and every table records the machine's load during the "
        "runs: a wall-clock figure taken under a load above the number of cores is inflated "
        "and says so in its load column; epoch counts, accuracies, trial counts and memory are "
        "not affected by load.",
        "",
        "## Goals",
        "",
        *_goal_rows(results),
        "",
    ]
    for name, title, meaning in SECTIONS:
        table = _table_of(results, name)
        command = (_load(results, name) or {}).get("command")
        said = f"Command: `{command}`." if command else "Command: not stored with this result."
        parts += [f"## {title}", "", f"{said} {meaning}" if table else meaning, ""]
        parts += [table if table else "Not measured on the current code.", ""]
    for title, body in extra_sections:
        parts += [f"## {title}", "", body.strip(), ""]
    parts += [
        "## GPU",
        "",
        "`benchmarks/gpu_check.py` (ResNet-18, CIFAR-shaped data, 1/2/4 trials per GPU, AMP on "
        "and off) needs a CUDA GPU; its results appear here once it has run on one "
        "(`results/gpu_check.json`).",
        "",
    ]
    gpu = _table_of(results, "gpu_check")
    if gpu:
        parts += [gpu, ""]
    return "\n".join(parts)


def main() -> int:
    """Write the page."""
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
