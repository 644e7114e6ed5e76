"""Running experiments on a real local Ray: actor reuse, search algorithms, schedulers."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tiny_experiment

import raytuner
from raytuner.config import validate_experiment

pytestmark = pytest.mark.slow


def _run(tmp_path: Path, **changes):
    exp = validate_experiment(tiny_experiment(**changes))
    return raytuner.run(exp, storage=tmp_path / "runs")


def _last_results(run_dir: Path) -> list[dict]:
    from ray.tune import ExperimentAnalysis

    return [t.last_result for t in ExperimentAnalysis(str(run_dir)).trials]


def test_reused_actor_leaks_no_state_between_trials(ray_session, tmp_path: Path) -> None:
    # Three trials of the same config, one at a time: they run on one reused actor and must
    # each start from fresh weights, optimizer state and RNG state, so all three end equal.
    result = _run(tmp_path, **{"search.space": {}, "search.algorithm": "random",
                               "search.num_samples": 3, "search.max_concurrent": 1,
                               "search.scheduler": {"name": "fifo"}, "train.epochs": 2,
                               "model.dropout": 0.3})
    last = _last_results(result.run_dir)
    assert len(last) == 3
    assert len({r["pid"] for r in last}) == 1, "trials did not share a reused actor"
    assert len({r["val_loss"] for r in last}) == 1, [r["val_loss"] for r in last]
    assert len({r["train_loss"] for r in last}) == 1


def test_grid_search_runs_every_combination(ray_session, tmp_path: Path) -> None:
    result = _run(tmp_path, **{"search.algorithm": "grid", "search.num_samples": 1,
                               "search.scheduler": {"name": "fifo"}, "train.epochs": 1,
                               "search.space": {"model.channels": {"grid": [4, 8]},
                                                "train.optimizer": {"choice": [
                                                    "adam", {"value": "sgd", "space": {
                                                        "train.momentum": {"grid": [0.5, 0.9]}}}
                                                ]}}})
    configs = [t["config"] for t in result.summary["trials"]]
    assert len(configs) == 2 * 3
    assert {(c["model.channels"], c["train.optimizer"], c.get("train.momentum"))
            for c in configs} == {(ch, "adam", None) for ch in (4, 8)} | {
        (ch, "sgd", m) for ch in (4, 8) for m in (0.5, 0.9)}


def test_seeded_point_is_the_first_hyperopt_trial_and_hyperband_runs(ray_session,
                                                                     tmp_path: Path) -> None:
    point = {"train.lr": 0.005, "model.channels": 8}
    result = _run(tmp_path, **{"search.points_to_evaluate": [point], "search.num_samples": 3,
                               "search.scheduler": {"name": "hyperband", "reduction_factor": 2}})
    trials = result.summary["trials"]
    assert len(trials) == 3
    assert any(t["config"] == point for t in trials)
    assert all(t["status"] in ("completed", "stopped") for t in trials), trials
