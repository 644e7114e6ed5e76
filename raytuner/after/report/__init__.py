"""``raytuner report RUN_DIR``: leaderboard, the best trial's full evaluation, hyperparameter
importance, figures, one self-contained HTML page and TensorBoard images.

Works on finished, running and resumed runs: everything is read from the run folder as it is
now (Ray's experiment state and each trial's ``result.json``), never from a live Ray.
Outputs land in ``<run_dir>/report/`` (``report.html``, ``report.json``, ``*.png``) and
``<run_dir>/tensorboard/report/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytuner.after.front import final_point, hypervolume_curve, summary_goals
from raytuner.after.history import histories
from raytuner.after.lineage import schedule_lines
from raytuner.after.loading import evaluate_model, load_trial, model_costs
from raytuner.after.report import plots
from raytuner.after.report.html import cost_rows, render_html
from raytuner.after.report.importance import importance
from raytuner.after.report.leaderboard import best_so_far, leaderboard, leaderboard_table
from raytuner.after.report.tensorboard import write_tensorboard
from raytuner.after.summary import current_summary
from raytuner.errors import CheckpointError, UserCodeMissing
from raytuner.files import write_text_atomic
from raytuner.runs.folder import REPORT_DIR, load_run_experiment
from raytuner.runs.repro import read_record
from raytuner.tensorboard.pareto import write_hypervolume
from raytuner.text import render_table

REPORT_SUBDIR = REPORT_DIR


@dataclass
class Report:
    """What :func:`build_report` wrote and computed."""

    data: dict[str, Any]
    folder: Path
    html: Path
    images: dict[str, Path]
    tensorboard: Path


def _evaluate_best(run_dir: Path, summary: dict[str, Any]) -> tuple[dict | None, str | None]:
    if summary["best"] is None:
        return None, "no trial has reported a result yet"
    if not summary["best"].get("checkpoint"):
        return None, f"trial {summary['best']['trial_id']} has no checkpoint yet"
    try:
        trial = load_trial(run_dir, summary=summary)
    except CheckpointError as exc:  # a running trial's checkpoint rotated away meanwhile
        return None, f"best checkpoint unreadable now ({exc}); report again"
    except UserCodeMissing as exc:  # the rest of the report reads results only
        return None, f"skipped, it builds the model: {exc}"
    evaluation = evaluate_model(trial.model, trial.data)
    evaluation.update(trial_id=trial.trial_id, epoch=trial.epoch,
                      checkpoint=str(trial.checkpoint), reported=trial.reported,
                      costs=model_costs(trial.model, trial.data,
                                        trial.experiment.search.latency_batch))
    return evaluation, None


def _markdown(rows: list[dict[str, Any]], metric: str) -> str:
    header = f"| # | trial | status | epochs | best {metric} | config |\n|---|---|---|---|---|---|"
    lines = [f"| {r['rank']} | {r['trial_id']} | {r['status']} | {r['epochs']} | "
             f"{r['best']:.4f} | " + ", ".join(f"{k}={v}" for k, v in r["config"].items())
             + " |" for r in rows]
    return "\n".join([header, *lines])


def build_report(run_dir: str | Path, *, top: int = 10, tensorboard: bool = True) -> Report:
    """Compute and write the whole report of ``run_dir``."""
    run_dir = Path(run_dir).expanduser().resolve()
    exp = load_run_experiment(run_dir)
    summary = current_summary(run_dir)
    rows = leaderboard(summary, top)
    evaluation, note = _evaluate_best(run_dir, summary)
    data = {
        "experiment": summary["experiment"], "run_dir": str(run_dir),
        "metric": summary["metric"], "mode": summary["mode"],
        "num_trials": summary["num_trials"], "status_counts": summary["status_counts"],
        "wall_time_s": summary.get("wall_time_s"), "leaderboard": rows,
        "leaderboard_markdown": _markdown(rows, summary["metric"]),
        "evaluation": evaluation, "evaluation_note": note,
        "importance": importance(summary, exp.space, seed=exp.seed),
        "reproducibility": read_record(run_dir),
        # pbt/pb2: the best trial's settings as they changed while it trained
        "schedule": schedule_lines(summary["best"]) if summary["best"] else [],
    }
    hist = histories(summary)
    pareto = pareto_section(summary, hist)
    if pareto is not None:
        data["pareto"] = pareto
    figures = {
        "best_so_far": plots.best_so_far_figure(best_so_far(summary, hist), summary["metric"],
                                                summary["mode"]),
        "params": plots.params_figure(summary, exp.space),
        "learning_curves": plots.learning_curves_figure(rows[:5], hist, summary["metric"]),
        "importance": plots.importance_figure(data["importance"]),
        "schedule": plots.schedule_figure(summary["best"]),  # pbt/pb2 only
        **({"pareto_front": plots.front_figure(
                {t["trial_id"]: tuple(t["values"]) for t in pareto["trials"]},
                pareto["front"], summary_goals(summary)),
            "hypervolume": plots.hypervolume_figure(pareto["hypervolume_curve"])}
           if pareto is not None else {}),
        "confusion_matrix": (plots.confusion_figure(evaluation["confusion_matrix"])
                             if evaluation else None),
    }
    figures = {name: fig for name, fig in figures.items() if fig is not None}
    folder = run_dir / REPORT_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    images = {}
    for name, fig in figures.items():
        images[name] = folder / f"{name}.png"
        fig.savefig(images[name], dpi=100)
    tb_dir = write_tensorboard(run_dir, figures, data) if tensorboard else run_dir
    if tensorboard and pareto is not None:
        write_hypervolume(run_dir, pareto["hypervolume_curve"])
    plots.close(figures)
    page = folder / "report.html"
    write_text_atomic(page, render_html(data, images))
    write_text_atomic(folder / "report.json", json.dumps(data, indent=2, default=str) + "\n")
    return Report(data, folder, page, images, tb_dir)


def pareto_section(summary: dict[str, Any], hist: dict[str, list[dict[str, Any]]]
                   ) -> dict[str, Any] | None:
    """A multi-objective run's front for the report: every trial's final values, the front's
    ids, its hypervolume and the hypervolume after each epoch spent (None: one objective)."""
    if "pareto" not in summary:
        return None
    goals = summary_goals(summary)
    reference = summary["hypervolume"]["reference"]
    curve, _ = hypervolume_curve(hist, goals, reference)
    trials = [{"trial_id": t["trial_id"], "values": list(point), "status": t["status"],
               "epochs": t["epochs"]}
              for t in summary["trials"] if (point := final_point(t, goals)) is not None]
    return {"objectives": summary["objectives"], "front": summary["pareto"], "trials": trials,
            "hypervolume": summary["hypervolume"]["value"], "reference": reference,
            "hypervolume_curve": curve}


def render_text(report: Report) -> str:
    """The report for the terminal."""
    data = report.data
    counts = ", ".join(f"{n} {s}" for s, n in sorted(data["status_counts"].items()))
    lines = [f"run {data['run_dir']}: {data['num_trials']} trials ({counts})", "",
             "leaderboard:", leaderboard_table(data["leaderboard"], data["metric"]), ""]
    ev = data["evaluation"]
    if ev is None:
        lines.append(f"best trial evaluation: {data['evaluation_note']}")
    else:
        lines.append(f"best trial {ev['trial_id']} (checkpoint of epoch {ev['epoch']}) on "
                     f"{ev['num_examples']} validation examples:")
        lines.append(render_table([[k, ev[k]] for k in (
            "accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc_ovr")],
            ["metric", "value"]))
        if ev.get("costs"):
            lines += ["", "its costs:", render_table(cost_rows(ev["costs"]), ["cost", "value"])]
    imp = data["importance"]
    lines += ["", f"hyperparameter importance ({imp['method']}, {imp['num_trials']} trials):"]
    if imp["note"]:
        lines.append(f"  {imp['note']}")
    if imp["params"]:
        lines.append(render_table([[r["param"], r["importance"], r["std"], r["share"]]
                                   for r in imp["params"]],
                                  ["hyperparameter", "importance", "std", "share"]))
    if data.get("schedule"):
        lines += ["", *data["schedule"]]
    if data.get("pareto"):
        pareto = data["pareto"]
        names = [o["metric"] for o in pareto["objectives"]]
        lines += ["", f"Pareto front ({len(pareto['front'])} of {len(pareto['trials'])} "
                      f"trials), hypervolume {pareto['hypervolume']:.4g} (reference "
                      + ", ".join(f"{n} {r:.4g}" for n, r in zip(names, pareto["reference"],
                                                                   strict=True)) + "):"]
        values = {t["trial_id"]: t["values"] for t in pareto["trials"]}
        lines.append(render_table([[i, *values[i]] for i in pareto["front"]],
                                  ["trial", *names]))
    repro = data["reproducibility"]
    lines.append("")
    if repro:
        v, hw, git = repro["versions"], repro["hardware"], repro.get("git")
        lines.append(f"reproducibility: seed {repro['seeds']['experiment']}; raytuner "
                     f"{v['raytuner']}, ray {v['ray']}, torch {v['torch']}, python "
                     f"{v['python']}; {hw['cpu_count']} x {hw['cpu_model']}, "
                     f"{len(hw['gpus'])} GPU(s)")
        if git:
            lines.append(f"  git {git['commit'][:12]}{' (dirty)' if git['dirty'] else ''}")
    else:
        lines.append("reproducibility: no reproducibility.json in this run")
    lines += ["", f"report: {report.html}", f"figures: {report.folder}",
              f"tensorboard: {report.tensorboard}"]
    return "\n".join(lines)
