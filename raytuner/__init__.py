"""raytuner: distributed hyperparameter tuning for PyTorch on Ray Tune.

The public API mirrors the CLI::

    import raytuner
    exp = raytuner.load_experiment("experiments/digits.yaml", overrides=["train.epochs=3"])
    result = raytuner.run(exp)
    print(result.best)
"""

from raytuner.config import Experiment, load_experiment
from raytuner.errors import ConfigError, RaytunerError, RunError
from raytuner.experiment import RunResult, resume, run
from raytuner.export import load_model
from raytuner.models import create_model, list_models
from raytuner.smoke import smoke_experiment

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Experiment",
    "RaytunerError",
    "RunError",
    "RunResult",
    "create_model",
    "list_models",
    "load_model",
    "load_experiment",
    "resume",
    "run",
    "smoke_experiment",
    "__version__",
]
