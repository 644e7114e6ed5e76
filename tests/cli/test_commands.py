"""End to end: the real `raytuner` command on a tiny budget, then `raytuner best`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli, tiny_experiment, write_yaml

pytestmark = pytest.mark.slow


# The first two trials (run side by side) learn; the next two barely move (lr 1e-5), so when
# they reach ASHA's first rung, two good results are recorded there already: they are stopped
# whatever order the results arrive in.
GOOD = {"train.lr": 5.0e-3, "model.channels": 8}
BAD = {"train.lr": 1.0e-5, "model.channels": 2}


def test_run_then_best(tmp_path: Path) -> None:
    exp = tiny_experiment(**{
        "search.num_samples": 8, "train.epochs": 4,
        "search.space": {"train.lr": {"loguniform": [1.0e-5, 3.0e-2]},
                         "model.channels": {"choice": [2, 8]}},
        "search.scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2},
        "search.points_to_evaluate": [GOOD, {**GOOD, "train.lr": 3.0e-3}, BAD,
                                      {**BAD, "train.lr": 2.0e-5}],
    })
    path = write_yaml(tmp_path / "tiny.yaml", exp)
    storage = tmp_path / "runs"
    result = run_cli("run", str(path), "--storage", str(storage), "--name", "e2e")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "best trial" in result.stdout
    # event lines (not a terminal), in the one status vocabulary
    assert " started: " in result.stdout and "terminated" not in result.stdout

    run_dir = storage / "e2e"
    summary = json.loads((run_dir / "summary.json").read_text())
    trials = summary["trials"]
    assert len(trials) == 8
    assert all(t["status"] in ("completed", "stopped") for t in trials)
    stopped = [t for t in trials if t["status"] == "stopped"]
    assert all(t["epochs"] < 4 for t in stopped)
    bad = [t for t in trials if t["config"]["model.channels"] == 2
           and t["config"]["train.lr"] in (1.0e-5, 2.0e-5)]
    assert len(bad) == 2 and all(t["status"] == "stopped" and t["epochs"] == 1 for t in bad), \
        [(t["config"], t["status"], t["epochs"]) for t in bad]  # ASHA stopped them early
    assert any(t["epochs"] == 4 for t in trials)
    assert (run_dir / "experiment.yaml").is_file()
    for trial in trials:
        checkpoints = sorted(Path(trial["path"]).glob("checkpoint_*/state.pt"))
        assert checkpoints, trial["trial_id"]
        assert len(checkpoints) <= 2  # checkpoint.keep

    best = run_cli("best", str(run_dir), "--json")
    assert best.returncode == 0, best.stderr
    record = json.loads(best.stdout)
    assert {"config", "metrics", "checkpoint", "trial_id"} <= set(record)
    # the highest best value; a tie goes to the earlier best epoch, then the smaller trial id
    highest = max(t["best"] for t in trials)
    top = min((t for t in trials if t["best"] == highest),
              key=lambda t: (t["best_epoch"], t["trial_id"]))
    assert record["trial_id"] == top["trial_id"]
    assert Path(record["checkpoint"], "state.pt").is_file()
    assert record["best"] == pytest.approx(top["best"])

    text = run_cli("best", str(run_dir))
    assert text.returncode == 0 and top["trial_id"] in text.stdout

    again = run_cli("run", str(path), "--storage", str(storage), "--name", "e2e", timeout=60)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert json.loads((run_dir / "summary.json").read_text()) == summary  # untouched
