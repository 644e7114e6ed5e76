"""A real user model (``model.name: "tests.faulty:factory"``, loaded by import path like any user
model) that misbehaves on purpose, to test what raytuner does when training goes wrong.

``fault`` chooses what happens at epoch ``at_epoch`` of an attempt:

- ``none``: nothing (a plain small MLP; ``epoch_sleep_s`` slows epochs so a test can act)
- ``once``: forward raises once (``error``: ``runtime`` or ``oom``), later attempts succeed
- ``always``: forward raises at that epoch of every attempt
- ``nan``: the logits become NaN from that epoch on (a NaN loss)
- ``explode``: the logits are scaled by ``explode_scale`` from that epoch on (a loss blow-up)
- ``corrupt``: once, truncate this trial's newest checkpoint (``state.pt``) in ``run_dir``,
  then raise, so the retry is handed a corrupt checkpoint
- ``gate``: epoch ``at_epoch`` waits until the file ``gate_file`` exists, so a test can look
  at a run that is certainly still running, then let it go on (it gives up after 300 s)

Epochs are counted by the model: the training loop calls ``model.train()`` once at the start of
every epoch, so the n-th call since the model was built is the n-th epoch of this attempt (a
retried trial builds a new model). "Once" is kept across attempts by a marker file.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

FAULTS = ("none", "once", "always", "nan", "explode", "corrupt", "gate")
GATE_TIMEOUT_S = 300.0


class FaultyNet(nn.Module):
    """A small MLP with an injectable fault."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, *, hidden: int = 32,
                 fault: str = "none", at_epoch: int = 2, error: str = "runtime",
                 marker_dir: str | None = None, run_dir: str | None = None,
                 explode_scale: float = 1e4, epoch_sleep_s: float = 0.0,
                 gate_file: str | None = None):
        super().__init__()
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, got {fault!r}")
        size = 1
        for dim in input_shape:
            size *= dim
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(size, hidden), nn.ReLU(),
                                 nn.Linear(hidden, num_classes))
        self.fault, self.at_epoch, self.error = fault, at_epoch, error
        self.marker_dir, self.run_dir = marker_dir, run_dir
        self.explode_scale, self.epoch_sleep_s = explode_scale, epoch_sleep_s
        self.gate_file = gate_file
        self.epochs_started = 0

    def train(self, mode: bool = True) -> FaultyNet:
        if mode:
            self.epochs_started += 1
            if self.epoch_sleep_s:
                time.sleep(self.epoch_sleep_s)
            if self.fault == "gate" and self.epochs_started == self.at_epoch:
                self._wait_at_gate()
        return super().train(mode)

    def _wait_at_gate(self) -> None:
        deadline = time.monotonic() + GATE_TIMEOUT_S
        while not Path(self.gate_file or "gate").exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"gate {self.gate_file} never opened")
            time.sleep(0.05)

    def _first_time(self) -> bool:
        """True the first time this fault fires in the whole experiment (marker file)."""
        marker = Path(self.marker_dir or ".") / f"{self.fault}-{self.error}.marker"
        if marker.exists():
            return False
        marker.write_text("fired\n")
        return True

    def _corrupt_own_checkpoint(self) -> None:
        # Checkpoints are the trial's files that reach the run folder at once (Tune syncs its
        # own files, params.json included, later): find this trial's by the config inside.
        for trial_dir in Path(self.run_dir).iterdir():
            checkpoints = sorted(trial_dir.glob("checkpoint_*/state.pt"))
            if not checkpoints:
                continue
            state = torch.load(checkpoints[-1], weights_only=True)
            if state["config"]["model"].get("fault") == "corrupt":
                data = checkpoints[-1].read_bytes()
                checkpoints[-1].write_bytes(data[: len(data) // 3])
                return
        raise RuntimeError(f"no checkpoint of a trial with model.fault=corrupt in {self.run_dir}")

    def _raise(self) -> None:
        if self.error == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB "
                                         "(injected by tests/faulty.py)")
        raise RuntimeError(f"injected failure at epoch {self.epochs_started} of this attempt")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        here = self.training and self.epochs_started == self.at_epoch
        if here and self.fault == "always":
            self._raise()
        if here and self.fault in ("once", "corrupt") and self._first_time():
            if self.fault == "corrupt":
                self._corrupt_own_checkpoint()
            self._raise()
        logits = self.net(x)
        late = self.training and self.epochs_started >= self.at_epoch
        if late and self.fault == "nan":
            return logits * float("nan")
        if late and self.fault == "explode":
            return logits * self.explode_scale
        return logits


def factory(input_shape: tuple[int, ...], num_classes: int, **settings) -> nn.Module:
    """The user-model factory raytuner calls: ``factory(input_shape, num_classes, **settings)``."""
    return FaultyNet(input_shape, num_classes, **settings)
