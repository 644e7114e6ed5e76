"""Export a trial's model for use outside raytuner, and load it back.

An export folder holds:

- ``weights.pt``: the model's ``state_dict`` (``torch.save``; loads with ``weights_only=True``);
- ``experiment.yaml``: the trial's resolved experiment, which rebuilds the model;
- ``model.pt2``: a ``torch.export`` program with a dynamic batch dimension, loadable with
  ``torch.export.load(path).module()`` without raytuner;
- ``export.json``: where it came from (run, trial, checkpoint epoch, reported metrics) and what
  input the model expects.

Inputs: float32 tensors of shape ``(N, C, H, W)`` preprocessed exactly as the dataset loader
does (the tensors of a :class:`raytuner.data.DataBundle` are already normalized; for ``digits``,
pixel values / 16 then standardized with the training split's mean and std).
:meth:`ExportedModel.load_data` rebuilds that bundle. Outputs: one logit per class.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from raytuner.after.loading import load_trial
from raytuner.config.schema import Experiment
from raytuner.config.validate import validate_experiment
from raytuner.data import DataBundle, load_dataset
from raytuner.errors import ConfigError
from raytuner.files import dump_yaml, read_yaml_file, write_text_atomic
from raytuner.models import create_model
from raytuner.runs.folder import EXPERIMENT_FILE, load_run_experiment

WEIGHTS_FILE = "weights.pt"
CONFIG_FILE = EXPERIMENT_FILE  # the trial's resolved experiment, named as in a run folder
PROGRAM_FILE = "model.pt2"
META_FILE = "export.json"
PREPROCESSING = ("float32 tensors (N, C, H, W), normalized exactly as raytuner.data.load_dataset("
                 "data, seed) returns them (DataBundle tensors are already normalized)")


@dataclass
class ExportedModel:
    """An export folder loaded: the model (eval mode, CPU), its experiment and metadata."""

    model: nn.Module
    experiment: Experiment
    metadata: dict[str, Any]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input example, ``(C, H, W)``."""
        return tuple(self.metadata["input"]["shape"])

    def load_data(self) -> DataBundle:
        """The dataset (train/validation split, preprocessing) the model was trained on."""
        return load_dataset(self.experiment.data, self.experiment.seed)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class indices for preprocessed inputs ``x``."""
        return self.model(x).argmax(dim=1)


def _prepare_out(out: Path) -> None:
    """Refuse to write into a folder holding something other than an earlier export."""
    if out.exists() and not out.is_dir():
        raise ConfigError("exists and is not a folder", source=str(out), path="--out")
    if out.is_dir() and any(out.iterdir()) and not (out / META_FILE).is_file():
        raise ConfigError("folder is not empty and holds no earlier export; choose an empty "
                          "or new folder", source=str(out), path="--out")
    out.mkdir(parents=True, exist_ok=True)


def save_program(model: nn.Module, example: torch.Tensor, path: Path) -> str:
    """Save ``model`` as a ``torch.export`` program with a dynamic batch size."""
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return "torch.export"


def export_model(run_dir: str | Path, out: str | Path, trial_id: str | None = None
                 ) -> dict[str, Any]:
    """Export the best (or ``trial_id``'s) model of a run into ``out``; returns the metadata."""
    load_run_experiment(run_dir)  # a clear error for a folder that is not a run
    out = Path(out).expanduser()
    trial = load_trial(run_dir, trial_id)
    _prepare_out(out)
    model, data = trial.model, trial.data
    torch.save(model.state_dict(), out / WEIGHTS_FILE)
    write_text_atomic(out / CONFIG_FILE, dump_yaml(trial.experiment.to_dict()))
    save_program(model, data.val_x[:2].clone(), out / PROGRAM_FILE)
    metadata = {
        "run_dir": str(Path(run_dir).resolve()),
        "trial_id": trial.trial_id,
        "checkpoint": str(trial.checkpoint),
        "epoch": trial.epoch,
        "reported": trial.reported,
        "model": trial.experiment.model,
        "input": {"shape": list(data.input_shape), "dtype": "float32",
                  "preprocessing": PREPROCESSING, "dataset": trial.experiment.data.name},
        "num_classes": data.num_classes,
        "output": "logits, one per class (argmax = predicted class)",
        "files": {"weights": WEIGHTS_FILE, "config": CONFIG_FILE, "program": PROGRAM_FILE},
        "torch": torch.__version__,
    }
    write_text_atomic(out / META_FILE, json.dumps(metadata, indent=2, default=str) + "\n")
    return metadata


def load_export(path: str | Path) -> ExportedModel:
    """Load an export folder written by :func:`export_model` (weights only, no code runs)."""
    path = Path(path).expanduser()
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise ConfigError(f"not a raytuner export folder (no {META_FILE})", source=str(path))
    metadata = json.loads(meta_file.read_text(encoding="utf-8"))
    exp = validate_experiment(read_yaml_file(path / CONFIG_FILE), source=str(path / CONFIG_FILE))
    model = create_model(exp.model_name, tuple(metadata["input"]["shape"]),
                         metadata["num_classes"], **exp.model_settings)
    state = torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return ExportedModel(model.eval(), exp, metadata)


def load_model(path: str | Path) -> nn.Module:
    """The exported model of ``path`` in eval mode on the CPU, ready for prediction.

    It expects float32 ``(N, C, H, W)`` inputs preprocessed as the dataset loader does (see
    :func:`load_export` for the data and metadata) and returns one logit per class.
    """
    return load_export(path).model
