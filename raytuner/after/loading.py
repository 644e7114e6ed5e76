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

from raytuner.config.schema import Experiment
from raytuner.config.validate import validate_experiment
from raytuner.data import DataBundle, load_dataset
from raytuner.errors import ConfigError
from raytuner.trial.checkpoint import load_state
from raytuner.trial.loop import EVAL_BATCH, Trainer


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
    from raytuner.after.summary import read_or_build_summary

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
    exp = validate_experiment(state["config"], source=str(folder), check_space=False)
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


def evaluate_logits(logits: torch.Tensor, targets: torch.Tensor,
                    num_classes: int) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1, one-vs-rest ROC-AUC and the confusion matrix."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y = targets.cpu().numpy()
    probs = torch.softmax(logits.double(), dim=1).cpu().numpy()
    pred = probs.argmax(axis=1)
    labels = list(range(num_classes))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, pred, labels=labels, average="macro", zero_division=0)
    try:
        if num_classes == 2:
            auc = float(roc_auc_score(y, probs[:, 1]))
        else:
            auc = float(roc_auc_score(y, probs, multi_class="ovr", average="macro",
                                      labels=labels))
    except ValueError:  # a class missing from the validation split: AUC is undefined
        auc = None
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "roc_auc_ovr": auc,
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).tolist(),
        "num_examples": int(len(y)),
    }


def evaluate_model(model: nn.Module, data: DataBundle) -> dict[str, Any]:
    """Full validation-set evaluation of ``model`` (see :func:`evaluate_logits`)."""
    return evaluate_logits(predict_logits(model, data.val_x), data.val_y, data.num_classes)


def accuracy_of(model: nn.Module, data: DataBundle) -> float:
    """Validation accuracy computed exactly as the training loop reports it."""
    from raytuner.trial.metrics import accuracy

    return accuracy(predict_logits(model, data.val_x), data.val_y)

