"""A user's own model and data set by import path, in a real run of the real command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, write_yaml

from raytuner.trial.checkpoint import load_state

pytestmark = pytest.mark.slow


def test_user_model_and_dataset_by_import_path_in_a_real_run(tmp_path: Path) -> None:
    exp = {
        "name": "usercode",
        "data": {"name": "userpkg.data:digits_pair"},
        "model": {"name": "userpkg.models:tiny_mlp", "hidden": 12, "dropout": 0.1},
        "train": {"epochs": 3, "batch_size": 64, "lr": 0.01},
        "search": {"algorithm": "random", "num_samples": 2,
                   "space": {"model.hidden": {"choice": [8, 24]}},
                   "scheduler": {"name": "fifo"}},
    }
    path = write_yaml(tmp_path / "usercode.yaml", exp)
    # The user's package is importable where the command runs and in Ray's workers.
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO),
                                          os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "raytuner", "run", str(path), "--smoke",
                             "--storage", str(tmp_path / "runs")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "synthetic" not in result.stdout  # a user's set is used as it is

    summary = json.loads((tmp_path / "runs" / "usercode-smoke" / "summary.json").read_text())
    trials = summary["trials"]
    assert [t["status"] for t in trials] == ["completed", "completed"]
    assert {t["config"]["model.hidden"] for t in trials} <= {8, 24}
    for trial in trials:
        state = load_state(trial["checkpoint"])
        # The searched setting reached the user's factory inside the Ray worker.
        assert state["model"]["1.weight"].shape == (trial["config"]["model.hidden"], 64)
        assert state["config"]["data"]["subset"] == 64
