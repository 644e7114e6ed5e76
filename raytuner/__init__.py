"""raytuner: distributed hyperparameter tuning for PyTorch on Ray Tune.

The public API mirrors the CLI::

    import raytuner
    exp = raytuner.load_experiment("experiments/digits.yaml", overrides=["train.epochs=3"])
    result = raytuner.run(exp)
    print(result.best)

Names load on first use (module ``__getattr__``), so ``import raytuner`` stays cheap: the CLI's
``--help`` and ``validate`` never import Ray, and nothing imports torch before it is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from raytuner.errors import (
    CheckpointError,
    ConfigError,
    Interrupted,
    RaytunerError,
    RunError,
)

__version__ = "0.1.0"

#: public name -> module that defines it
_LAZY = {
    "Experiment": "raytuner.config.schema",
    "load_experiment": "raytuner.config.validate",
    "run": "raytuner.runs.launch",
    "resume": "raytuner.runs.launch",
    "RunResult": "raytuner.runs.launch",
    "smoke_experiment": "raytuner.runs.smoke",
    "read_summary": "raytuner.after.summary",
    "make_plan": "raytuner.search.plan",
    "export_model": "raytuner.after.export",
    "load_model": "raytuner.after.export",
    "create_model": "raytuner.models",
    "list_models": "raytuner.models",
    "list_datasets": "raytuner.data",
}

if TYPE_CHECKING:
    from raytuner.after.export import export_model, load_model
    from raytuner.after.summary import read_summary
    from raytuner.config.schema import Experiment
    from raytuner.config.validate import load_experiment
    from raytuner.data import list_datasets
    from raytuner.models import create_model, list_models
    from raytuner.runs.launch import RunResult, resume, run
    from raytuner.runs.smoke import smoke_experiment
    from raytuner.search.plan import make_plan


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'raytuner' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CheckpointError",
    "ConfigError",
    "Experiment",
    "Interrupted",
    "RaytunerError",
    "RunError",
    "RunResult",
    "create_model",
    "export_model",
    "list_datasets",
    "list_models",
    "load_experiment",
    "load_model",
    "make_plan",
    "read_summary",
    "resume",
    "run",
    "smoke_experiment",
    "__version__",
]
