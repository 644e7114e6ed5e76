"""One ranking of trials everywhere (summary.json's best, the report's leaderboard, the table
`raytuner best` prints), and the same whatever order Ray lists the trials in: ties are common
(an accuracy on 360 validation examples takes few values), and Ray lists them in one order in
memory and another read back from the run folder (CI saw summary.json and the report name
different best trials)."""

from __future__ import annotations

import itertools
from typing import Any

from raytuner.after.report.leaderboard import leaderboard
from raytuner.after.summary import best_record, ranked_records, summary_table


def record(trial_id: str, best: float | None, best_epoch: int | None) -> dict[str, Any]:
    return {"trial_id": trial_id, "best": best, "best_epoch": best_epoch, "status": "completed",
            "epochs": 5, "config": {"train.lr": 0.01}, "metrics": {}}


RECORDS = [record("b_00003", 0.975, 4), record("b_00000", 0.975, 4), record("b_00002", 0.975, 2),
           record("b_00001", 0.95, 1), record("b_00004", None, None)]


def test_ties_rank_by_the_earlier_epoch_then_trial_id_in_any_listing_order() -> None:
    for records in itertools.permutations(RECORDS):
        assert [r["trial_id"] for r in ranked_records(list(records), "max")] == [
            "b_00002", "b_00000", "b_00003", "b_00001"]  # no result: not ranked
        assert best_record(list(records), "max")["trial_id"] == "b_00002"


def test_minimised_metric_ranks_the_smallest_first() -> None:
    records = [record("a", 0.30, 3), record("b", 0.20, 5), record("c", 0.20, 4)]
    assert [r["trial_id"] for r in ranked_records(records, "min")] == ["c", "b", "a"]
    assert best_record([record("x", None, None)], "min") is None


def test_leaderboard_and_table_start_with_the_summary_best() -> None:
    summary = {"metric": "val_accuracy", "mode": "max", "trials": RECORDS[::-1]}
    best = best_record(summary["trials"], "max")
    rows = leaderboard(summary)
    assert [r["trial_id"] for r in rows] == [r["trial_id"] for r in
                                             ranked_records(RECORDS, "max")]
    assert rows[0]["trial_id"] == best["trial_id"]
    table = summary_table(summary).splitlines()
    assert table[1].split()[0] == best["trial_id"], table  # the header, then the best
