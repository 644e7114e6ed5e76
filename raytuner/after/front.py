"""The Pareto front of a multi-objective run (``search.objectives``), its hypervolume, and
picking one trial from it.

A trial stands for its final epoch: its values are the last ones it reported (a trial stopped
early by ``moasha`` ends where it was stopped) and its checkpoint is that epoch's, so the model
``raytuner export --trial ID`` writes has the values the front shows. Plain Python on summary
records and result histories (no Ray, no torch), like :mod:`raytuner.search.pareto`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from raytuner.config.metrics import is_share
from raytuner.errors import ConfigError
from raytuner.search.pareto import hypervolume, is_valid, pareto_front
from raytuner.text import render_table

Goals = Sequence[tuple[str, str]]

#: how far beyond the worst value seen the reference point of a metric without bounds lies,
#: as a share of the values' range (so that the worst trials still add a little volume)
REFERENCE_MARGIN = 0.1


def final_point(record: dict[str, Any], goals: Goals) -> tuple[float, ...] | None:
    """A trial's objective values at its last reported epoch (None when one is missing)."""
    metrics = record.get("metrics") or {}
    values = tuple(metrics.get(metric) for metric, _ in goals)
    if not all(isinstance(v, int | float) for v in values):
        return None
    point = tuple(float(v) for v in values)  # type: ignore[arg-type]
    return point if is_valid(point) else None


def front_records(records: Sequence[dict[str, Any]], goals: Goals) -> list[dict[str, Any]]:
    """The non-dominated trials by their final values, best first by the first objective
    (ties by trial id)."""
    scored = [(r, p) for r in records if (p := final_point(r, goals)) is not None]
    modes = [mode for _, mode in goals]
    front = [scored[i] for i in pareto_front([p for _, p in scored], modes)]
    sign = -1.0 if goals[0][1] == "max" else 1.0
    front.sort(key=lambda rp: (sign * rp[1][0], rp[0]["trial_id"]))
    return [r for r, _ in front]


def reference_point(points: Sequence[Sequence[float]], goals: Goals) -> tuple[float, ...]:
    """A point worse than every given one: a share (accuracy, F1) at its worst bound (0 when
    maximized, 1 when minimized); another metric at its worst value seen plus a margin of
    :data:`REFERENCE_MARGIN` of its range (of its size when all values are equal)."""
    reference = []
    for k, (metric, mode) in enumerate(goals):
        values = [p[k] for p in points if math.isfinite(p[k])]
        if is_share(metric):
            reference.append(0.0 if mode == "max" else 1.0)
            continue
        if not values:
            reference.append(0.0)
            continue
        low, high = min(values), max(values)
        margin = REFERENCE_MARGIN * ((high - low) or abs(high) or 1.0)
        reference.append(low - margin if mode == "max" else high + margin)
    return tuple(reference)


def history_points(hist: dict[str, list[dict[str, Any]]], goals: Goals
                   ) -> list[tuple[float, str, tuple[float, ...]]]:
    """``(timestamp, trial id, values)`` of every reported epoch that has all objectives, in
    the order the results were reported."""
    events = []
    for trial_id, rows in hist.items():
        for row in rows:
            values = [row.get(metric) for metric, _ in goals]
            if all(isinstance(v, int | float) for v in values):
                point = tuple(float(v) for v in values)  # type: ignore[arg-type]
                if is_valid(point):
                    events.append((float(row.get("timestamp") or 0), trial_id, point,
                                   float(row.get("time_total_s") or 0.0)))
    events.sort(key=lambda e: (e[0], e[3], e[1]))
    return [(t, trial_id, point) for t, trial_id, point, _ in events]


def hypervolume_curve(hist: dict[str, list[dict[str, Any]]], goals: Goals,
                      reference: Sequence[float] | None = None
                      ) -> tuple[list[tuple[int, float]], tuple[float, ...]]:
    """``([(epochs spent by all trials, hypervolume), ...], reference)``: after each reported
    epoch, the hypervolume of the trials' latest values (a trial stands for its current
    model), with ``reference`` (default: :func:`reference_point` of every value reported)."""
    events = history_points(hist, goals)
    if reference is None:
        reference = reference_point([p for _, _, p in events], goals)
    modes = [mode for _, mode in goals]
    latest: dict[str, tuple[float, ...]] = {}
    curve = []
    for spent, (_, trial_id, point) in enumerate(events, start=1):
        latest[trial_id] = point
        curve.append((spent, hypervolume(list(latest.values()), modes, reference)))
    return curve, tuple(reference)


# -- picking one trial from the front -------------------------------------------------------

_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")
_WEIGHT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([0-9.eE+]+)\s*$")
PICK_HELP = ('constraints such as "latency_ms<=2" and/or weights such as "val_accuracy:2,'
             'latency_ms:1", comma-separated')


@dataclass(frozen=True)
class Pick:
    """A parsed ``--pick``: constraints every picked trial meets, weights that rank the rest."""

    constraints: tuple[tuple[str, str, float], ...]
    weights: tuple[tuple[str, float], ...]


def parse_pick(text: str, goals: Goals) -> Pick:
    """Parse ``--pick``; a ConfigError names the part it cannot read."""
    names = [metric for metric, _ in goals]
    constraints, weights = [], []
    for part in (p for p in text.split(",") if p.strip()):
        if match := _CONSTRAINT.match(part):
            metric, op, value = match[1], match[2], float(match[3])
            constraints.append((metric, op, value))
        elif match := _WEIGHT.match(part):
            metric, weight = match[1], float(match[2])
            weights.append((metric, weight))
        else:
            raise ConfigError(f"cannot read {part.strip()!r}; use {PICK_HELP}", path="--pick")
        if metric not in names:
            raise ConfigError(f"{metric!r} is not an objective of this run; objectives: "
                              f"{', '.join(names)}", path="--pick")
    if not constraints and not weights:
        raise ConfigError(f"nothing to pick by; use {PICK_HELP}", path="--pick")
    return Pick(tuple(constraints), tuple(weights))


def _meets(value: float, op: str, bound: float) -> bool:
    return {"<=": value <= bound, ">=": value >= bound, "<": value < bound,
            ">": value > bound}[op]


def pick_from_front(front: Sequence[dict[str, Any]], goals: Goals, text: str
                    ) -> dict[str, Any]:
    """The front member that meets every constraint of ``text`` and, among those, scores
    highest by its weights (each objective scaled to [0, 1] over the front, 1 the best), or,
    without weights, is best by the first objective. A ConfigError when none qualifies."""
    pick = parse_pick(text, goals)
    index = {metric: k for k, (metric, _) in enumerate(goals)}
    points = {r["trial_id"]: final_point(r, goals) for r in front}
    candidates = [r for r in front if all(
        _meets(points[r["trial_id"]][index[m]], op, bound) for m, op, bound in pick.constraints)]
    if not candidates:
        ranges = "; ".join(
            f"{m} {min(p[index[m]] for p in points.values()):.4g}.."
            f"{max(p[index[m]] for p in points.values()):.4g}"
            for m in dict.fromkeys(m for m, _, _ in pick.constraints))
        raise ConfigError(f"no trial on the Pareto front meets {text!r} (front: {ranges})",
                          path="--pick")
    if not pick.weights:
        return candidates[0]  # the front is ordered best first by the first objective

    def scaled(record: dict[str, Any], metric: str) -> float:
        k = index[metric]
        values = [p[k] for p in points.values()]
        low, high = min(values), max(values)
        if high == low:
            return 1.0
        share = (points[record["trial_id"]][k] - low) / (high - low)
        return share if goals[k][1] == "max" else 1.0 - share

    return max(candidates, key=lambda r: (sum(w * scaled(r, m) for m, w in pick.weights),
                                          -front.index(r)))


def summary_goals(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """``(metric, mode)`` of a multi-objective summary's objectives."""
    return [(o["metric"], o["mode"]) for o in summary["objectives"]]


def summary_front(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of a multi-objective summary's Pareto front, best first."""
    records = {r["trial_id"]: r for r in summary["trials"]}
    return [records[i] for i in summary["pareto"]]


def front_lines(summary: dict[str, Any], where: str) -> list[str]:
    """The front as text (what ``raytuner best`` and the end of a run print), with the
    commands that pick and export a member of it (``where``: the run folder as typed)."""
    goals, front = summary_goals(summary), summary_front(summary)
    if not front:
        return ["Pareto front: no trial has reported every objective yet"]
    lines = [f"Pareto front: {len(front)} of {summary['num_trials']} trials, final values "
             "(none beaten in all by another):"]
    lines += render_table([[r["trial_id"], r["status"], r["epochs"],
                            *(r["metrics"][m] for m, _ in goals)] for r in front],
                          ["trial", "status", "epochs", *(f"{m} ({mode})" for m, mode in goals)]
                          ).splitlines()
    second, mode = goals[1]
    middle = sorted(r["metrics"][second] for r in front)[len(front) // 2]
    lines += [f"pick one:   raytuner best {where} --pick "
              f"\"{second}{'<=' if mode == 'min' else '>='}{middle:.4g}\"",
              f"export one: raytuner export {where} --trial {front[0]['trial_id']}"]
    return lines


def run_hypervolume_curve(summary: dict[str, Any]) -> list[tuple[int, float]]:
    """:func:`hypervolume_curve` of a multi-objective summary's run folder, with the
    summary's reference point."""
    from raytuner.after.history import histories

    curve, _ = hypervolume_curve(histories(summary), summary_goals(summary),
                                 summary["hypervolume"]["reference"])
    return curve
