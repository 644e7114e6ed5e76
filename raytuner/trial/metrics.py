"""Metrics every epoch reports, and checks that the search metric is one of them."""

from __future__ import annotations

import numpy as np
import torch

from raytuner.errors import ConfigError

#: reported every epoch by the training loop; any of them can be ``search.metric``
EPOCH_METRICS: dict[str, str] = {
    "train_loss": "min",
    "train_accuracy": "max",
    "val_loss": "min",
    "val_accuracy": "max",
    "lr": "",
    "epoch": "",
    "epoch_time_s": "",
    "samples_per_s": "",
}


#: computed with scikit-learn from the validation logits every epoch (top-5: > 5 classes only)
CLASSIFICATION_METRICS: dict[str, str] = {
    "val_top5_accuracy": "max",
    "val_precision": "max",
    "val_recall": "max",
    "val_f1": "max",
    "val_roc_auc": "max",
}

#: metrics that differ between cross-validation folds: reported as the mean and ``<name>_std``
SPREAD_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy",
                  *CLASSIFICATION_METRICS)


def reported_metrics(exp=None, *, num_classes: int | None = None) -> list[str]:
    """Names of the metrics the training loop reports for ``exp``.

    ``num_classes`` is the loaded data's; without it, a built-in dataset's declared class count
    decides whether top-5 accuracy is reported (unknown -> listed; the trainer checks again).
    """
    names = list(EPOCH_METRICS)
    if exp is None:
        return names
    if num_classes is None:
        from raytuner.data.traits import declared_trait

        num_classes = declared_trait(exp.data.name, "num_classes")
    names += [n for n in CLASSIFICATION_METRICS
              if n != "val_top5_accuracy" or num_classes is None or num_classes > 5]
    if (exp.data.cv_folds or 1) > 1:
        names += [f"{n}_std" for n in SPREAD_METRICS if n in names]
    return names


def check_metric_name(name: str, exp=None, *, path: str = "search.metric",
                      num_classes: int | None = None) -> None:
    """A ConfigError unless ``name`` is a metric the training loop reports."""
    names = reported_metrics(exp, num_classes=num_classes)
    if name not in names:
        raise ConfigError(f"unknown metric {name!r}; the training loop reports: "
                          f"{', '.join(names)}", path=path)


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of rows whose arg-max equals the target."""
    if len(targets) == 0:
        return float("nan")
    # counted, then divided in Python: the same float as scikit-learn's accuracy_score
    return (logits.argmax(dim=1) == targets).sum().item() / len(targets)


def classification_metrics(logits: torch.Tensor, targets: torch.Tensor,
                           num_classes: int) -> dict[str, float]:
    """Validation accuracy, top-5 accuracy (> 5 classes), macro precision, recall and F1, and
    one-vs-rest macro ROC-AUC, all computed by scikit-learn from ``logits``.

    Precision/recall/F1 average over the classes present in the targets or predictions
    (scikit-learn's default), counting 0 for a class never predicted. ROC-AUC is NaN when it is
    undefined (a class missing from the targets).
    """
    from sklearn.metrics import (
        accuracy_score,
        precision_recall_fscore_support,
        top_k_accuracy_score,
    )

    y = targets.detach().cpu().numpy()
    # float64 so the probabilities sum to 1 within scikit-learn's tolerance
    probs = torch.softmax(logits.detach().double(), dim=1).cpu().numpy()
    pred = probs.argmax(axis=1)
    labels = np.arange(num_classes)
    out = {"val_accuracy": float(accuracy_score(y, pred))}
    if num_classes > 5:
        out["val_top5_accuracy"] = float(top_k_accuracy_score(y, probs, k=5, labels=labels))
    precision, recall, f1, _ = precision_recall_fscore_support(y, pred, average="macro",
                                                               zero_division=0)
    out.update(val_precision=float(precision), val_recall=float(recall), val_f1=float(f1),
               val_roc_auc=roc_auc(y, probs, labels))
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
