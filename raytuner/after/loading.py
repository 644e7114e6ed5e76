"""Load a trial's model from a run folder and evaluate it on the validation set.

The checkpoint holds the trial's resolved config, so the model is rebuilt with exactly the
settings that trained it, and the data split is rebuilt from the same data settings and seed.
Metrics come from scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from raytuner.after.summary import read_or_build_summary
from raytuner.config.schema import Experiment
from raytuner.config.validate import validate_experiment
from raytuner.data import DataBundle, load_dataset
from raytuner.errors import ConfigError
from raytuner.trial.checkpoint import load_state
from raytuner.trial.costs import COSTS, latency_batch, measure_costs
from raytuner.trial.loop import EVAL_BATCH, Trainer
from raytuner.trial.metrics import accuracy, evaluate


@dataclass
class LoadedTrial:
    """A trial's model at its best checkpoint, with the data and config that go with it."""

    trial_id: str
    checkpoint: Path
    experiment: Experiment
    model: nn.Module
    data: DataBundle
    epoch: int
    reported: dict[str, Any]  # what the trial reported at the checkpoint's epoch


def pick_record(summary: dict[str, Any], trial_id: str | None = None) -> dict[str, Any]:
    """The summary record of ``trial_id``, or of the best trial when it is None."""
    if trial_id is None:
        best = summary.get("best")
        if best is None:
            raise ConfigError("no trial has reported a result yet", source=summary["run_dir"])
        return best
    for record in summary["trials"]:
        if record["trial_id"] == trial_id:
            return record
    known = ", ".join(r["trial_id"] for r in summary["trials"]) or "none"
    raise ConfigError(f"no trial {trial_id!r} in this run; trials: {known}",
                      source=summary["run_dir"], path="--trial")


def load_trial(run_dir: str | Path, trial_id: str | None = None,
               data: DataBundle | None = None,
               summary: dict[str, Any] | None = None) -> LoadedTrial:
    """Rebuild a trial's model from its best checkpoint (CPU, eval mode).

    ``data`` skips reloading the dataset when the caller already has the bundle the trial
    trained on; ``summary`` skips re-reading the run folder.
    """
    record = pick_record(summary or read_or_build_summary(run_dir), trial_id)
    if not record.get("checkpoint"):
        raise ConfigError(f"trial {record['trial_id']} has no checkpoint", source=str(run_dir))
    folder = Path(record["checkpoint"])
    state = load_state(folder)
    if "folds" in state:
        # k fold models, none of them trained on all the data: there is no one model to export
        raise ConfigError(f"trial {record['trial_id']} was trained with {state['cv_folds']}-fold "
                          "cross-validation and holds one model per fold; run its configuration "
                          "again with data.cv_folds: null to get one model", source=str(run_dir))
    # The trial's own resolved experiment (its sampled values applied), as training saved it.
    exp = validate_experiment(state["config"], source=str(folder))
    if data is None:
        data = load_dataset(exp.data, exp.seed)
    # The Trainer builds the model exactly as training did (same factory, same settings).
    trainer = Trainer(exp, data, "cpu")
    trainer.load_state_dict(state)
    model = trainer.model.eval()
    reported = dict(state["history"][-1]) if state["history"] else {}
    return LoadedTrial(record["trial_id"], folder, exp, model, data, int(state["epoch"]),
                       reported)


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch: int = EVAL_BATCH) -> torch.Tensor:
    """Logits of ``model`` (already in eval mode) on ``x``, in the batches the training loop
    evaluates with."""
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def evaluate_model(model: nn.Module, data: DataBundle) -> dict[str, Any]:
    """Full validation-set evaluation of ``model``: the metrics the training loop reports
    (:func:`raytuner.trial.metrics.evaluate`, the one evaluation) and the confusion matrix."""
    logits = predict_logits(model, data.val_x)
    return evaluate(logits, data.val_y, data.num_classes, confusion=True).report()


def accuracy_of(model: nn.Module, data: DataBundle) -> float:
    """Validation accuracy computed exactly as the training loop reports it."""
    return accuracy(predict_logits(model, data.val_x), data.val_y)


def model_costs(model: nn.Module, data: DataBundle, batch_size: int) -> dict[str, Any]:
    """All the costs of ``model`` (:mod:`raytuner.trial.costs`), measured where the model is
    loaded: ``params``, ``model_bytes`` and ``flops`` are the figures a trial reports;
    ``latency_ms`` times ``batch_size`` validation examples (``search.latency_batch``) in
    float32 on this machine's CPU (``latency_device``), so it ranks models of one run against
    each other but is not the latency a GPU trial reported."""
    batch = latency_batch(data.val_x, batch_size)
    return {**measure_costs(model, batch, COSTS), "latency_device": str(batch.device)}
