"""Metrics every epoch reports, and checks that the search metric is one of them."""

from __future__ import annotations

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


def reported_metrics(exp=None) -> list[str]:
    """Names of the metrics the training loop reports for ``exp``."""
    return list(EPOCH_METRICS)


def check_metric_name(name: str, exp=None, *, path: str = "search.metric") -> None:
    """A ConfigError unless ``name`` is a metric the training loop reports."""
    names = reported_metrics(exp)
    if name not in names:
        raise ConfigError(f"unknown metric {name!r}; the training loop reports: "
                          f"{', '.join(names)}", path=path)


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of rows whose arg-max equals the target."""
    if len(targets) == 0:
        return float("nan")
    return (logits.argmax(dim=1) == targets).float().mean().item()
