"""Computing the metrics of the catalogue (:mod:`raytuner.config.metrics`) from logits.

:func:`evaluate` is the one evaluation of a model's validation logits: the training loop reports
its ``val_*`` metrics every epoch (:func:`classification_metrics`), and ``raytuner report``
shows the same numbers for the best checkpoint, with the confusion matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
    top_k_accuracy_score,
)


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of rows whose arg-max equals the target."""
    if len(targets) == 0:
        return float("nan")
    # counted, then divided in Python: the same float as scikit-learn's accuracy_score
    return (logits.argmax(dim=1) == targets).sum().item() / len(targets)


@dataclass
class Evaluation:
    """A model's metrics on a validation set (see :func:`evaluate`)."""

    accuracy: float
    top5_accuracy: float | None  # None with 5 classes or fewer
    precision: float
    recall: float
    f1: float
    roc_auc: float  # NaN when undefined (a class missing from the targets)
    num_examples: int
    confusion_matrix: list[list[int]] | None = None

    def reported(self) -> dict[str, float]:
        """The metrics as a trial reports them every epoch (``val_*`` names)."""
        out = {"val_accuracy": self.accuracy}
        if self.top5_accuracy is not None:
            out["val_top5_accuracy"] = self.top5_accuracy
        out.update(val_precision=self.precision, val_recall=self.recall, val_f1=self.f1,
                   val_roc_auc=self.roc_auc)
        return out

    def report(self) -> dict[str, Any]:
        """The full evaluation as ``raytuner report`` shows it (an undefined ROC-AUC as None)."""
        return {"accuracy": self.accuracy, "precision_macro": self.precision,
                "recall_macro": self.recall, "f1_macro": self.f1,
                "roc_auc_ovr": None if math.isnan(self.roc_auc) else self.roc_auc,
                "confusion_matrix": self.confusion_matrix, "num_examples": self.num_examples}


def evaluate(logits: torch.Tensor, targets: torch.Tensor, num_classes: int, *,
             confusion: bool = False) -> Evaluation:
    """Accuracy, top-5 accuracy (> 5 classes), macro precision, recall and F1, one-vs-rest macro
    ROC-AUC and, with ``confusion``, the confusion matrix, all computed by scikit-learn.

    Precision/recall/F1 average over the classes present in the targets or predictions
    (scikit-learn's default), counting 0 for a class never predicted.
    """
    y = targets.detach().cpu().numpy()
    # float64 so the probabilities sum to 1 within scikit-learn's tolerance
    probs = torch.softmax(logits.detach().double(), dim=1).cpu().numpy()
    pred = probs.argmax(axis=1)
    labels = np.arange(num_classes)
    top5 = (float(top_k_accuracy_score(y, probs, k=5, labels=labels)) if num_classes > 5
            else None)
    precision, recall, f1, _ = precision_recall_fscore_support(y, pred, average="macro",
                                                               zero_division=0)
    matrix = confusion_matrix(y, pred, labels=labels).tolist() if confusion else None
    return Evaluation(float(accuracy_score(y, pred)), top5, float(precision), float(recall),
                      float(f1), roc_auc(y, probs, labels), int(len(y)), matrix)


def classification_metrics(logits: torch.Tensor, targets: torch.Tensor,
                           num_classes: int) -> dict[str, float]:
    """The ``val_*`` metrics of :func:`evaluate`, as the training loop reports them."""
    return evaluate(logits, targets, num_classes).reported()


def roc_auc(y: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> float:
    """One-vs-rest macro ROC-AUC by scikit-learn; NaN when undefined for these targets."""
    if len(np.unique(y)) < len(labels):
        return float("nan")  # a class without positives has no ROC curve
    try:
        if len(labels) == 2:
            return float(roc_auc_score(y, probs[:, 1]))
        return float(roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=labels))
    except ValueError:
        return float("nan")
