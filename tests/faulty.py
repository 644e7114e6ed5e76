"""A real user model (named by import path, ``model.name: "faulty:factory"``) that misbehaves on
purpose: its forward raises, runs out of memory, returns NaN or explodes at a chosen epoch.

Epochs are counted by the model itself: the training loop calls ``model.train()`` once at the
start of every epoch, so the n-th such call (since the model was built, i.e. since the trial
started or was restored) is the n-th epoch of this attempt. With ``marker``, a failure happens
only once: the model creates the marker file when it fails and never fails while it exists.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn


class FaultyNet(nn.Module):
    """A small MLP with injectable faults."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, *, hidden: int = 32,
                 fail_at_epoch: int = 0, error: str = "runtime", marker: str | None = None,
                 nan_at_epoch: int = 0, explode_at_epoch: int = 0, explode_scale: float = 1e4,
                 epoch_sleep_s: float = 0.0):
        super().__init__()
        size = 1
        for dim in input_shape:
            size *= dim
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(size, hidden), nn.ReLU(),
                                 nn.Linear(hidden, num_classes))
        self.fail_at_epoch, self.error, self.marker = fail_at_epoch, error, marker
        self.nan_at_epoch, self.explode_at_epoch = nan_at_epoch, explode_at_epoch
        self.explode_scale, self.epoch_sleep_s = explode_scale, epoch_sleep_s
        self.epochs_started = 0

    def train(self, mode: bool = True) -> FaultyNet:
        if mode:
            self.epochs_started += 1
            if self.epoch_sleep_s:  # slow epochs, so a test can act while a trial runs
                time.sleep(self.epoch_sleep_s)
        return super().train(mode)

    def _should_fail(self) -> bool:
        if not self.training or self.epochs_started != self.fail_at_epoch:
            return False
        if self.marker is None:
            return True
        marker = Path(self.marker)
        if marker.exists():
            return False
        marker.write_text("failed once\n")
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._should_fail():
            if self.error == "oom":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB "
                                             "(injected by tests/faulty.py)")
            raise RuntimeError(f"injected failure at epoch {self.epochs_started} of this "
                               "attempt")
        logits = self.net(x)
        if self.training and self.nan_at_epoch and self.epochs_started >= self.nan_at_epoch:
            return logits * float("nan")
        if (self.training and self.explode_at_epoch
                and self.epochs_started >= self.explode_at_epoch):
            return logits * self.explode_scale
        return logits


def factory(input_shape: tuple[int, ...], num_classes: int, **settings) -> nn.Module:
    """The user-model factory raytuner calls: ``factory(input_shape, num_classes, **settings)``."""
    return FaultyNet(input_shape, num_classes, **settings)
