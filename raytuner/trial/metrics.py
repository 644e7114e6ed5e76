"""Computing the metrics of the catalogue (:mod:`raytuner.config.metrics`) from logits.

:func:`evaluate` is the one full evaluation of a model's validation logits (``raytuner report``
shows it for the best checkpoint, with the confusion matrix). Every epoch the training loop
reports accuracy, counted here in torch, plus only the scikit-learn metrics the experiment asks
for (:func:`classification_metrics` with ``names``): scikit-learn is imported on first use, so a
trial that needs none of them never loads it.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from raytuner.config.metrics import CATALOGUE

#: the metrics computed from the logits only when asked for (the model's costs are measured
#: by :mod:`raytuner.trial.costs`)
ON_REQUEST = tuple(m.name for m in CATALOGUE if m.on_request and not m.cost)


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
    from sklearn.metrics import accuracy_score, confusion_matrix  # deferred: see the module

    y, probs, labels = _as_numpy(logits, targets, num_classes)
    pred = probs.argmax(axis=1)
    precision, recall, f1 = _precision_recall_f1(y, pred)
    matrix = confusion_matrix(y, pred, labels=labels).tolist() if confusion else None
    return Evaluation(float(accuracy_score(y, pred)), _top5(y, probs, labels), precision,
                      recall, f1, roc_auc(y, probs, labels), int(len(y)), matrix)


def _as_numpy(logits: torch.Tensor, targets: torch.Tensor, num_classes: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = targets.detach().cpu().numpy()
    # float64 so the probabilities sum to 1 within scikit-learn's tolerance
    probs = torch.softmax(logits.detach().double(), dim=1).cpu().numpy()
    return y, probs, np.arange(num_classes)


def _top5(y: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> float | None:
    from sklearn.metrics import top_k_accuracy_score

    return (float(top_k_accuracy_score(y, probs, k=5, labels=labels)) if len(labels) > 5
            else None)


def _precision_recall_f1(y: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, _ = precision_recall_fscore_support(y, pred, average="macro",
                                                               zero_division=0)
    return float(precision), float(recall), float(f1)


def classification_metrics(logits: torch.Tensor, targets: torch.Tensor, num_classes: int,
                           names: Collection[str] | None = None) -> dict[str, float]:
    """``val_accuracy`` and the on-request ``val_*`` metrics in ``names`` (all of them when
    ``names`` is None), each the same number :func:`evaluate` gives; only what is asked for is
    computed (ROC-AUC is the costly one)."""
    out = {"val_accuracy": accuracy(logits, targets)}
    wanted = set(ON_REQUEST if names is None else names)
    if not wanted:
        return out
    y, probs, labels = _as_numpy(logits, targets, num_classes)
    if "val_top5_accuracy" in wanted and (top5 := _top5(y, probs, labels)) is not None:
        out["val_top5_accuracy"] = top5
    if wanted & {"val_precision", "val_recall", "val_f1"}:
        precision, recall, f1 = _precision_recall_f1(y, probs.argmax(axis=1))
        scores = {"val_precision": precision, "val_recall": recall, "val_f1": f1}
        out.update({k: v for k, v in scores.items() if k in wanted})
    if "val_roc_auc" in wanted:
        out["val_roc_auc"] = roc_auc(y, probs, labels)
    return out


def roc_auc(y: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> float:
    """One-vs-rest macro ROC-AUC by scikit-learn; NaN when undefined for these targets."""
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < len(labels):
        return float("nan")  # a class without positives has no ROC curve
    try:
        if len(labels) == 2:
            return float(roc_auc_score(y, probs[:, 1]))
        return float(roc_auc_score(y, probs, multi_class="ovr", average="macro", labels=labels))
    except ValueError:
        return float("nan")
