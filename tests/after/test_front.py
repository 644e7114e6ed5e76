"""The Pareto front of a multi-objective run as summary.json, `raytuner best` and the end of a
run show it: the front checked against a brute-force filter, the reference point and the
hypervolume curve by hand, `--pick` constraints, weights and errors (plain records, no Ray)."""

from __future__ import annotations

import json
import math
import random

import pytest

from raytuner.after.front import (
    final_point,
    front_records,
    hypervolume_curve,
    pick_from_front,
    reference_point,
)
from raytuner.after.summary import pareto_summary
from raytuner.errors import ConfigError
from raytuner.view.best import best_output
from raytuner.view.final import final_lines

GOALS = [("val_accuracy", "max"), ("latency_ms", "min")]


def record(trial_id: str, accuracy: float | None, latency: float | None, **extra) -> dict:
    return {"trial_id": trial_id, "status": "completed", "epochs": 4, "max_epochs": 4,
            "best": accuracy, "best_epoch": 4, "config": {"train.lr": 0.01},
            "metrics": {"val_accuracy": accuracy, "latency_ms": latency, "epoch": 4},
            "best_metrics": {}, "checkpoint": f"/runs/x/trial_{trial_id}/checkpoint_000003",
            "lineage": [], "worst": [accuracy, latency], **extra}


def brute_front(records: list[dict], goals) -> set[str]:
    def better_or_equal(a, b, mode):
        return a >= b if mode == "max" else a <= b

    points = {r["trial_id"]: final_point(r, goals) for r in records}
    points = {k: p for k, p in points.items() if p is not None}
    front = set()
    for k, p in points.items():
        beaten = any(all(better_or_equal(q[i], p[i], goals[i][1]) for i in range(len(goals)))
                     and q != p for j, q in points.items() if j != k)
        if not beaten:
            front.add(k)
    return front


@pytest.mark.parametrize("goals", [GOALS, [("val_accuracy", "max"), ("val_loss", "min"),
                                           ("params", "min")]])
def test_front_is_what_a_brute_force_filter_keeps(goals) -> None:
    rng = random.Random(3)
    for _ in range(40):
        records = []
        for i in range(rng.randint(1, 25)):
            metrics = {m: round(rng.random(), 1) for m, _ in goals}  # rounded: ties happen
            records.append({"trial_id": f"t{i:02d}", "metrics": metrics})
        if records and rng.random() < 0.3:
            records[0]["metrics"][goals[1][0]] = math.nan  # takes part in no front
        front = front_records(records, goals)
        assert {r["trial_id"] for r in front} == brute_front(records, goals)
        firsts = [r["metrics"][goals[0][0]] for r in front]
        assert firsts == sorted(firsts, reverse=True)  # best first by the first objective


def test_a_trial_missing_an_objective_is_not_on_the_front() -> None:
    records = [record("a", 0.9, 3.0), record("b", 0.95, None), record("c", 0.8, 1.0)]
    assert [r["trial_id"] for r in front_records(records, GOALS)] == ["a", "c"]


def test_reference_point_bounds_shares_and_pads_the_rest() -> None:
    points = [(0.9, 2.0), (0.5, 4.0), (0.7, 3.0)]
    assert reference_point(points, GOALS) == pytest.approx((0.0, 4.2))  # 4 + 10% of 2
    # maximized: below the lowest value by 10% of the range
    assert reference_point(points, [("val_loss", "max"), ("params", "max")]) == pytest.approx(
        (0.5 - 0.04, 2.0 - 0.2))
    assert reference_point([(0.5, 7.0)], GOALS) == pytest.approx((0.0, 7.7))  # one value


def test_hypervolume_curve_follows_each_trials_latest_values() -> None:
    hist = {
        "a": [{"epoch": 1, "timestamp": 1, "val_accuracy": 0.5, "latency_ms": 2.0},
              {"epoch": 2, "timestamp": 3, "val_accuracy": 0.8, "latency_ms": 2.0}],
        "b": [{"epoch": 1, "timestamp": 2, "val_accuracy": 0.6, "latency_ms": 1.0},
              {"epoch": 2, "timestamp": 4, "val_accuracy": math.nan, "latency_ms": 1.0}],
    }
    curve, reference = hypervolume_curve(hist, GOALS, (0.0, 4.0))
    assert reference == (0.0, 4.0)
    # a alone: 0.5 wide x (4 - 2) ms; then b (0.6 @ 1 ms) covers a's box and more: 0.6 x 3;
    # then a moves to 0.8 @ 2 ms: 0.8 x 2 + 0.6 x 3 - their overlap 0.6 x 2; b's NaN epoch is
    # no point (its latest stays 0.6 @ 1 ms), so the curve has three steps
    assert curve == [(1, pytest.approx(1.0)), (2, pytest.approx(1.8)),
                     (3, pytest.approx(1.6 + 1.8 - 1.2))]


def test_summary_names_the_front_and_its_hypervolume() -> None:
    records = [record("a", 0.9, 3.0), record("b", 0.8, 1.0), record("c", 0.7, 2.0),
               record("d", 0.95, 5.0)]
    summary = pareto_summary(records, GOALS)
    assert summary["pareto"] == ["d", "a", "b"]  # c is beaten by b in both
    assert summary["objectives"] == [{"metric": "val_accuracy", "mode": "max"},
                                     {"metric": "latency_ms", "mode": "min"}]
    ref = summary["hypervolume"]["reference"]
    assert ref == pytest.approx([0.0, 5.0 + 0.4])
    # sweep over latency: b (1 ms) covers 0.8 wide up to a's 3 ms; a adds 0.1 up to d's 5 ms
    expected = 0.8 * (ref[1] - 1.0) + (0.9 - 0.8) * (ref[1] - 3.0) + (0.95 - 0.9) * (
        ref[1] - 5.0)
    assert summary["hypervolume"]["value"] == pytest.approx(expected)


def test_pick_by_constraints_weights_and_the_errors() -> None:
    front = front_records([record("a", 0.9, 3.0), record("b", 0.8, 1.0),
                           record("d", 0.95, 5.0)], GOALS)
    assert pick_from_front(front, GOALS, "latency_ms<=3")["trial_id"] == "a"
    assert pick_from_front(front, GOALS, "latency_ms<3, val_accuracy>=0.5")["trial_id"] == "b"
    assert pick_from_front(front, GOALS, "latency_ms:1")["trial_id"] == "b"
    assert pick_from_front(front, GOALS, "val_accuracy:1")["trial_id"] == "d"
    # scaled over the front (1 = best): accuracy a 0.67, b 0, d 1; latency a 0.5, b 1, d 0
    assert pick_from_front(front, GOALS, "val_accuracy:1,latency_ms:2")["trial_id"] == "b"
    assert pick_from_front(front, GOALS, "val_accuracy:1,latency_ms:1")["trial_id"] == "a"
    assert pick_from_front(front, GOALS, "val_accuracy:3,latency_ms:1")["trial_id"] == "d"
    with pytest.raises(ConfigError, match=r"--pick: no trial on the Pareto front meets "
                                          r"'latency_ms<0.5' \(front: latency_ms 1\.\.5\)"):
        pick_from_front(front, GOALS, "latency_ms<0.5")
    with pytest.raises(ConfigError, match="'flops' is not an objective of this run; "
                                          "objectives: val_accuracy, latency_ms"):
        pick_from_front(front, GOALS, "flops<=3")
    with pytest.raises(ConfigError, match=r"cannot read 'latency_ms ~ 3'; use constraints"):
        pick_from_front(front, GOALS, "latency_ms ~ 3")


def _summary() -> dict:
    records = [record("a", 0.9, 3.0), record("b", 0.8, 1.0), record("c", 0.7, 2.0)]
    return {"experiment": "mo", "run_dir": "/runs/mo", "metric": "val_accuracy", "mode": "max",
            "wall_time_s": 12.0, "num_trials": 3, "status_counts": {"completed": 3},
            "best": records[0], "trials": records, **pareto_summary(records, GOALS)}


def test_best_prints_the_front_and_the_commands_to_pick_and_export() -> None:
    text = best_output(_summary(), "runs/mo")
    lines = text.splitlines()
    assert lines[0].startswith("Pareto front: 2 of 3 trials")
    assert [line.split()[0] for line in lines[2:4]] == ["a", "b"]  # after the table header
    assert 'raytuner best runs/mo --pick "latency_ms<=' in text
    assert "raytuner export runs/mo --trial a" in text
    assert all(len(line) <= 80 for line in lines), text
    as_json = json.loads(best_output(_summary(), "runs/mo", as_json=True))
    assert [r["trial_id"] for r in as_json["pareto"]] == ["a", "b"]
    picked = best_output(_summary(), "runs/mo", pick="latency_ms<=2")
    assert picked.startswith("picked trial b (completed, 4 epochs) from the Pareto front")
    assert "checkpoint (last epoch): /runs/x/trial_b/checkpoint_000003" in picked
    assert json.loads(best_output(_summary(), "runs/mo", pick="latency_ms<=2",
                                  as_json=True))["trial_id"] == "b"


def test_pick_on_a_single_objective_run_is_an_error() -> None:
    summary = _summary()
    for key in ("objectives", "pareto", "hypervolume"):
        summary.pop(key)
    with pytest.raises(ConfigError, match=r"--pick: --pick chooses from a Pareto front; this "
                                          r"run optimizes one metric \(val_accuracy\)"):
        best_output(summary, "runs/mo", pick="latency_ms<=2")
    assert best_output(summary, "runs/mo").startswith("best trial a (completed, 4 epochs)")


def test_the_end_of_a_multi_objective_run_shows_the_front() -> None:
    lines = final_lines(_summary(), "(leaderboard)", [], "/elsewhere/runs/mo")
    assert any(line.startswith("Pareto front: 2 of 3 trials") for line in lines)
    assert "  checkpoint (last epoch): /runs/x/trial_a/checkpoint_000003" in lines


def test_report_draws_the_front_and_pairwise_views_for_three_objectives() -> None:
    from raytuner.after.report import plots

    two = plots.front_figure({"a": (0.9, 3.0), "b": (0.8, 1.0), "c": (0.7, 2.0)}, ["a", "b"],
                             GOALS)
    assert len(two.axes) == 1
    ax = two.axes[0]
    assert ax.get_xlabel() == "val_accuracy (max)" and ax.get_ylabel() == "latency_ms (min)"
    # the staircase of what the front dominates: b (0.8, 1) up to a's 3 ms, then across to a
    (line,) = ax.get_lines()
    assert list(zip(line.get_xdata(), line.get_ydata(), strict=True)) == [
        (0.9, 3.0), (0.8, 3.0), (0.8, 1.0)]
    three_goals = [*GOALS, ("params", "min")]
    three = plots.front_figure({"a": (0.9, 3.0, 10.0), "b": (0.8, 1.0, 20.0)}, ["a", "b"],
                               three_goals)
    labels = [(a.get_xlabel(), a.get_ylabel()) for a in three.axes]
    assert labels == [("val_accuracy (max)", "latency_ms (min)"),
                      ("val_accuracy (max)", "params (min)"),
                      ("latency_ms (min)", "params (min)")]
    plots.close({"two": two, "three": three})
    assert plots.front_figure({}, [], GOALS) is None
