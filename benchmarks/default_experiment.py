"""The default job against the same job written by hand with Ray Tune (issue 13's first goal).

Each repetition runs, one after the other in fresh processes (each with its own Ray start):
``python -m raytuner run experiments/digits.yaml``, the same on the hand-written script's flat
search space (:func:`flat_space_experiment`: the same search on both sides, so the two tools
train the same kind of configurations) and ``python -m benchmarks.bare_tune_digits``
(:mod:`benchmarks.bare_tune_digits`: the same data, model, space, searcher, scheduler,
concurrency, actor reuse and per-epoch checkpoint, with its own training loop). The order
rotates between repetitions so that a drifting machine load favours none. Recorded per
run: the whole command's wall-clock, the time inside the run, the time from the command's start
to the first result (the first epoch's checkpoint folder of any trial, which Ray writes at the
first report, seen while the command runs), trials, epochs and the best validation accuracy.
Then ``raytuner plan`` of the same experiment, whose wall-clock bounds should contain the runs'
times inside Tune.
"""

from __future__ import annotations

import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import LoadWatch, Options, Poller, Report, markdown_table
from benchmarks.digits_runs import DIGITS_YAML, REPO

SMOKE_SETS = ["search.num_samples=2", "train.epochs=2", "search.scheduler.grace_period=1"]


def _env() -> dict[str, str]:
    # RAY_ADDRESS=local: a Ray of its own, not the newest one running on this machine.
    return {**os.environ, "RAY_ADDRESS": "local", "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}


class FirstCheckpointWatch(Poller):
    """Seconds from the command's start to the first epoch's checkpoint folder of any trial
    (Ray writes it at the trial's first report), seen by polling every 20 ms while the command
    runs: the folder may be deleted later (``checkpoint.keep``), so its mtime afterwards
    would tell the first result of the trials whose first checkpoint happened to survive."""

    def __init__(self, run_dir: Path, started: float):
        super().__init__(0.02)
        self.seen: float | None = None
        self._pattern = str(run_dir / "*" / "checkpoint_000000")
        self._started = started

    def tick(self) -> bool:
        if glob.glob(self._pattern):
            self.seen = time.time() - self._started
        return self.seen is not None


def _results(run_dir: Path) -> dict[str, Any]:
    """Trials, epochs and the best val_accuracy from the trials' ``result.json`` files, plus
    the seconds the trials spent training and evaluating (``epoch_time_s``) and in all
    (Tune's ``time_total_s``, the trial function's time from its start to its last report)."""
    out = {"trials": 0, "epochs": 0, "best": 0.0, "epoch_time_s": 0.0, "trial_time_s": 0.0}
    for path in run_dir.glob("*/result.json"):
        results = [json.loads(line)
                   for line in path.read_text(encoding="utf-8").splitlines()]
        if not results:
            continue
        out["trials"] += 1
        out["epochs"] += len(results)
        out["best"] = max(out["best"], *(r.get("val_accuracy", 0.0) for r in results))
        out["epoch_time_s"] += sum(r.get("epoch_time_s", 0.0) for r in results)
        out["trial_time_s"] += results[-1]["time_total_s"]
    # what a trial spends per epoch beyond training and evaluating: the trial's start, the
    # checkpoint, the report's round trip, the metrics (the configurations' cost is left out)
    out["overhead_per_epoch_s"] = ((out["trial_time_s"] - out["epoch_time_s"])
                                   / max(out["epochs"], 1))
    return out


def _timed(args: list[str], run_dir: Path) -> tuple[dict[str, Any], str]:
    started = time.time()
    with LoadWatch() as load, FirstCheckpointWatch(run_dir, started) as first:
        proc = subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, text=True,
                              timeout=1800)
    total = time.time() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return {"total_s": total, "first_result_s": first.seen,
            **_results(run_dir), "load": load.as_dict(),
            "output_lines": len(proc.stdout.splitlines()) + len(proc.stderr.splitlines())
            }, proc.stdout


def flat_space_experiment(folder: Path) -> Path:
    """``experiments/digits.yaml`` with the hand-written script's search space: the optimizer a
    flat choice and the momentum always sampled (used by sgd only), the seeded first point
    with the script's momentum. Written to ``folder``; its path."""
    raw = yaml.safe_load(DIGITS_YAML.read_text(encoding="utf-8"))
    space = raw["search"]["space"]
    space["train.optimizer"] = {"choice": ["adam", "sgd"]}
    space["train.momentum"] = {"uniform": [0.8, 0.99]}
    raw["search"]["points_to_evaluate"][0]["train.momentum"] = 0.9
    path = folder / "digits-flat-space.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def run_raytuner(storage: Path, name: str, smoke: bool, seed: int = 0,
                 experiment: Path = DIGITS_YAML) -> dict[str, Any]:
    """``python -m raytuner run experiments/digits.yaml`` (or ``experiment``) with ``seed``;
    inside time from summary.json."""
    args = [sys.executable, "-m", "raytuner", "run", str(experiment), "--storage", str(storage),
            "--name", name, "--set", f"seed={seed}"]
    for change in SMOKE_SETS if smoke else []:
        args += ["--set", change]
    out, _ = _timed(args, storage / name)
    summary = json.loads((storage / name / "summary.json").read_text(encoding="utf-8"))
    return {**out, "inside_s": summary["wall_time_s"]}


def run_bare(storage: Path, name: str, smoke: bool, seed: int = 0) -> dict[str, Any]:
    """The hand-written Ray Tune script with ``seed``; inside time from the JSON line it
    prints last."""
    args = [sys.executable, "-m", "benchmarks.bare_tune_digits", "--storage", str(storage),
            "--name", name, "--seed", str(seed)]
    if smoke:
        args += ["--num-samples", "2", "--epochs", "2"]
    out, stdout = _timed(args, storage / name)
    last = json.loads(stdout.strip().splitlines()[-1])
    return {**out, "inside_s": last["wall_time_s"]}


def plan_bounds(smoke: bool) -> dict[str, Any]:
    """``raytuner plan --json`` of the default experiment (its own calibration)."""
    args = [sys.executable, "-m", "raytuner", "plan", str(DIGITS_YAML), "--json"]
    for change in SMOKE_SETS if smoke else []:
        args += ["--set", change]
    proc = subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=600, check=True)
    return json.loads(proc.stdout)


def _ratio(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], key: str) -> float:
    """Median ``key`` of ``ours`` over the median of ``theirs`` (0 when ours has none)."""
    return (_med(ours, key) or 0) / (_med(theirs, key) or 1)


def _epochs_by_seed(runs: list[dict[str, Any]]) -> str:
    return " ".join(str(r["epochs"]) for r in runs)


def _med(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def _spread(runs: list[dict[str, Any]], key: str, unit: str = " s") -> str:
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return "-"
    digits = 1 if statistics.median(values) >= 10 else 3
    return (f"{statistics.median(values):.{digits}f}{unit} "
            f"[{min(values):.{digits}f}, {max(values):.{digits}f}]")


def verdict(ratio: float | None, goal: float, *, lower_is_better: bool = True) -> str:
    """``met`` / ``missed`` of a ratio against its goal."""
    if ratio is None:
        return "not measured"
    ok = ratio <= goal if lower_is_better else ratio >= goal
    return "met" if ok else "missed"


def run(opts: Options) -> Report:
    """``reps`` rounds of (raytuner, raytuner on the flat space, bare Ray Tune) in rotating
    order, then ``raytuner plan``."""
    reps = opts.seeds or (1 if opts.smoke else 3)
    ours: list[dict[str, Any]] = []
    flat: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="default-") as tmp:
        storage = Path(tmp)
        flat_file = flat_space_experiment(storage)

        def run_flat(storage: Path, name: str, smoke: bool, seed: int) -> dict[str, Any]:
            return run_raytuner(storage, name, smoke, seed, experiment=flat_file)

        variants = [("raytuner", run_raytuner, ours), ("flat", run_flat, flat),
                    ("bare", run_bare, bare)]
        for rep in range(reps):
            # each round its own seed, the same on every side: a seed fixes the
            # configurations a search draws, whose cost differs from draw to draw
            for label, runner, into in variants[rep % 3:] + variants[:rep % 3]:
                into.append(runner(storage, f"{label}-{rep}", opts.smoke, seed=rep))
                print(f"rep {rep} {label}: {into[-1]['total_s']:.1f} s", file=sys.stderr)
        plan = plan_bounds(opts.smoke)
    ratio_total = _ratio(ours, bare, "total_s")
    ratio_inside = _ratio(ours, bare, "inside_s")
    # The two searches draw different configurations (HyperOpt over a nested vs a flat
    # optimizer choice), so ASHA lets a different number of epochs run: per epoch is the
    # like-for-like figure of the work.
    for r in ours + flat + bare:
        r["inside_s_per_epoch"] = r["inside_s"] / r["epochs"]
        r["epoch_time_per_epoch_s"] = r["epoch_time_s"] / r["epochs"]
    ratio_overhead = _ratio(ours, bare, "overhead_per_epoch_s")
    ratio_per_epoch = _ratio(ours, bare, "inside_s_per_epoch")
    first_ours, first_bare = _med(ours, "first_result_s"), _med(bare, "first_result_s")
    low, high = plan["wall_seconds"]["lower"], plan["wall_seconds"]["upper"]
    inside_all = [r["inside_s"] for r in ours]
    contained = all(low <= t <= high for t in inside_all)
    rows = [
        ["whole command, median [min, max]", _spread(ours, "total_s"), _spread(bare, "total_s"),
         f"{ratio_total:.2f}x", f"<= 1.10x: {verdict(ratio_total, 1.10)}"],
        ["inside the run", _spread(ours, "inside_s"), _spread(bare, "inside_s"),
         f"{ratio_inside:.2f}x", ""],
        ["inside the run per epoch trained (the searches' epochs differ)",
         _spread(ours, "inside_s_per_epoch", " s"), _spread(bare, "inside_s_per_epoch", " s"),
         f"{ratio_per_epoch:.2f}x", f"<= 1.10x: {verdict(ratio_per_epoch, 1.10)}"],
        ["inside a trial, per epoch, beyond training + evaluation (start, checkpoint, "
         "report, metrics)", _spread(ours, "overhead_per_epoch_s", " s"),
         _spread(bare, "overhead_per_epoch_s", " s"),
         f"{ratio_overhead:.2f}x", ""],
        ["trials' training + evaluation, per epoch (the configurations' own cost)",
         _spread(ours, "epoch_time_per_epoch_s", " s"),
         _spread(bare, "epoch_time_per_epoch_s", " s"), "", ""],
        ["first result after the command's start", _spread(ours, "first_result_s"),
         _spread(bare, "first_result_s"),
         "-" if None in (first_ours, first_bare) else f"{first_ours / first_bare:.2f}x",
         "no later: " + verdict(None if None in (first_ours, first_bare)
                                else first_ours - first_bare, 0.0)],
        ["trials / epochs (median)", f"{_med(ours, 'trials'):.0f} / {_med(ours, 'epochs'):.0f}",
         f"{_med(bare, 'trials'):.0f} / {_med(bare, 'epochs'):.0f}", "", ""],
        ["best val_accuracy (median)", f"{_med(ours, 'best'):.4f}", f"{_med(bare, 'best'):.4f}",
         "", ""],
        ["lines printed (median)", f"{_med(ours, 'output_lines'):.0f}",
         f"{_med(bare, 'output_lines'):.0f}", "", ""],
        ["`raytuner plan` wall-clock bounds vs the runs' time inside", f"{low:.1f}-{high:.1f} s "
         f"(expected {plan['wall_seconds']['expected']:.1f} s)",
         ", ".join(f"{t:.1f}" for t in inside_all) + " s", "",
         f"bounds contain every run: {'met' if contained else 'missed'}"],
    ]
    ratio_total_flat = _ratio(flat, bare, "total_s")
    ratio_per_epoch_flat = _ratio(flat, bare, "inside_s_per_epoch")
    flat_rows = [
        ["whole command, median [min, max]", _spread(flat, "total_s"),
         _spread(bare, "total_s"), f"{ratio_total_flat:.2f}x",
         f"<= 1.10x: {verdict(ratio_total_flat, 1.10)}"],
        ["inside the run per epoch trained", _spread(flat, "inside_s_per_epoch", " s"),
         _spread(bare, "inside_s_per_epoch", " s"), f"{ratio_per_epoch_flat:.2f}x", ""],
        ["trials' training + evaluation, per epoch (the configurations' own cost)",
         _spread(flat, "epoch_time_per_epoch_s", " s"),
         _spread(bare, "epoch_time_per_epoch_s", " s"), "", ""],
        ["first result after the command's start", _spread(flat, "first_result_s"),
         _spread(bare, "first_result_s"), "", ""],
        ["epochs per run, by seed", _epochs_by_seed(flat), _epochs_by_seed(bare), "", ""],
    ]
    loads = [r["load"]["load_mean_1m"] for r in ours + flat + bare]
    markdown = ((f"Smoke size ({SMOKE_SETS}): figures meaningless.\n\n" if opts.smoke else "")
                + f"{reps} rounds in rotating order, round k with experiment seed k on every "
                "side (a seed fixes the data split and the configurations the search draws, "
                "whose cost differs from draw to draw); mean 1-minute load during the runs "
                f"{min(loads):.2f}-{max(loads):.2f}.\n\n"
                + markdown_table(["figure", "raytuner", "hand-written Ray Tune", "ratio",
                                  "goal"], rows)
                + "\n\nEpochs per run, by seed: raytuner "
                + _epochs_by_seed(ours) + "; hand-written " + _epochs_by_seed(bare) + ".\n\n"
                "The same job with the same search: raytuner run on the hand-written script's "
                "flat space (the optimizer a flat choice, the momentum always sampled; "
                "`experiments/digits.yaml` itself nests the momentum under sgd, which Ray's "
                "HyperOptSearch cannot seed by hand), in the same rounds:\n\n"
                + markdown_table(["figure", "raytuner, flat space", "hand-written Ray Tune",
                                  "ratio", "goal"], flat_rows) + "\n")
    return Report("default_experiment", "The default job against hand-written Ray Tune",
                  markdown, [], {"raytuner": ours, "flat": flat, "bare": bare, "plan": plan,
                                 "ratio_total": ratio_total, "ratio_inside": ratio_inside,
                                 "ratio_total_flat": ratio_total_flat,
                                 "ratio_per_epoch_flat": ratio_per_epoch_flat,
                                 "ratio_per_epoch": ratio_per_epoch,
                                 "ratio_overhead_per_epoch": ratio_overhead,
                                 "first_result_s": {"raytuner": first_ours,
                                                    "bare": first_bare},
                                 "plan_contains_runs": contained})
