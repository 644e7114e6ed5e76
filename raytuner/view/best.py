"""What ``raytuner best`` prints: the best trial of a run, or, for a multi-objective run
(``search.objectives``), its Pareto front or the member ``--pick`` chooses."""

from __future__ import annotations

import json
from typing import Any

from raytuner.after.front import front_lines, pick_from_front, summary_front, summary_goals
from raytuner.after.lineage import schedule_lines
from raytuner.errors import ConfigError


def best_output(summary: dict[str, Any], where: str, *, pick: str | None = None,
                as_json: bool = False) -> str:
    """The text (or one JSON object) ``raytuner best`` prints for ``summary`` (``where``: the
    run folder as the user typed it). A ConfigError when there is nothing to show."""
    best = summary["best"]
    if best is None:
        raise ConfigError("no trial has reported a result yet", source=where)
    if "pareto" in summary:
        return _front_output(summary, where, pick, as_json)
    if pick is not None:
        raise ConfigError(f"--pick chooses from a Pareto front; this run optimizes one metric "
                          f"({summary['metric']}): its best trial is {best['trial_id']}",
                          source=where, path="--pick")
    if as_json:
        return json.dumps({**best, "metric": summary["metric"], "mode": summary["mode"]},
                          default=str)
    return "\n".join([f"best trial {best['trial_id']} ({best['status']}, {best['epochs']} "
                      f"epochs): {summary['metric']} = {best['best']:.4f}",
                      *record_lines(best)])


def _front_output(summary: dict[str, Any], where: str, pick: str | None, as_json: bool
                  ) -> str:
    goals, front = summary_goals(summary), summary_front(summary)
    if pick is None:
        if as_json:
            return json.dumps({"objectives": summary["objectives"], "pareto": front,
                               "hypervolume": summary["hypervolume"]}, default=str)
        return "\n".join(front_lines(summary, where))
    if not front:
        raise ConfigError("no trial has reported every objective yet", source=where)
    chosen = pick_from_front(front, goals, pick)
    if as_json:
        return json.dumps({**chosen, "objectives": summary["objectives"]}, default=str)
    values = ", ".join(f"{m} = {chosen['metrics'][m]:.4g}" for m, _ in goals)
    return "\n".join([f"picked trial {chosen['trial_id']} ({chosen['status']}, "
                      f"{chosen['epochs']} epochs) from the Pareto front by {pick!r}: {values}",
                      *record_lines(chosen, checkpoint_label="last epoch")])


def record_lines(record: dict[str, Any], checkpoint_label: str = "best epoch") -> list[str]:
    """A trial record's config, best and last epochs' metrics, schedule and checkpoint."""
    lines = ["config:", *(f"  {key}: {value}" for key, value in record["config"].items())]
    if record.get("best_metrics"):
        lines.append(f"metrics of the best epoch ({record['best_epoch']}):")
        lines += [f"  {key}: {value}" for key, value in record["best_metrics"].items()]
    lines.append(f"metrics of the last epoch ({record['epochs']}):")
    lines += [f"  {key}: {value}" for key, value in record["metrics"].items()]
    lines += schedule_lines(record)  # pbt/pb2: the settings changed while training
    lines.append(f"checkpoint ({checkpoint_label}): {record['checkpoint']}")
    return lines
