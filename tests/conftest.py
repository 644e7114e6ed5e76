"""Shared fixtures: experiment files written on the fly, one Ray instance per module."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# A tiny but real experiment: digits CNN, a few epochs, a handful of trials.
TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 0,
    "data": {"name": "digits"},
    "model": {"name": "cnn", "depth": 1, "channels": 8, "hidden": 32},
    "train": {"epochs": 3, "batch_size": 128, "optimizer": "adam", "lr": 0.003},
    "search": {
        "algorithm": "hyperopt",
        "metric": "val_accuracy",
        "mode": "max",
        "num_samples": 4,
        "max_concurrent": 2,
        "n_initial_points": 2,
        "scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2},
        "space": {"train.lr": {"loguniform": [1.0e-4, 1.0e-2]},
                  "model.channels": {"choice": [4, 8]}},
    },
    "resources": {"cpu": 1, "gpu": 0},
    "checkpoint": {"keep": 2},
    "failure": {"max_retries": 1},
}


def tiny_experiment(**changes: Any) -> dict[str, Any]:
    """A copy of TINY with dotted-path changes, e.g. ``**{"train.epochs": 2}``."""
    from raytuner.config import set_dotted

    raw = copy.deepcopy(TINY)
    for key, value in changes.items():
        set_dotted(raw, key, value)
    return raw


def write_yaml(path: Path, data: Any) -> Path:
    """Write ``data`` as YAML and return the path."""
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300
            ) -> subprocess.CompletedProcess:
    """Run the real ``raytuner`` command (``python -m raytuner``) and capture its output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "raytuner", *args], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance shared by every test of a module (Ray is slow to start)."""
    import ray

    # address="local": a Ray of its own, not a `ray start` cluster running on the machine
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()
