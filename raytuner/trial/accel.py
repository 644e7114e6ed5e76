"""GPU speed settings (``train.amp``, ``train.channels_last``, ``train.compile``, pinned copies)
resolved for the device a trial runs on.

Each is applied where it helps and skipped, with one logged note per process, where it does
not: channels-last and ``torch.compile`` only pay off on CUDA (on a small CPU trial compiling
costs more than it saves), fp16 needs CUDA's grad scaler, and pinned memory only matters for
host-to-GPU copies. bf16 autocast runs on the CPU too (it saves memory and is fast on CPUs with
bf16 units), so it is kept there.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch

from raytuner.config.schema import TrainConfig

log = logging.getLogger("raytuner")
_NOTED: set[str] = set()


def note_once(message: str) -> None:
    """Log ``message`` once per process (a reused actor runs many trials)."""
    if message not in _NOTED:
        _NOTED.add(message)
        log.warning(message)


@dataclass(frozen=True)
class Speed:
    """What the trainer actually applies on its device."""

    device: torch.device
    amp_dtype: torch.dtype | None = None
    grad_scaler: bool = False
    channels_last: bool = False
    compile: bool = False
    pin_memory: bool = False

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to ``amp_dtype`` on the device, or nothing when AMP is off."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """Copy a data tensor to the device: pinned and non-blocking on CUDA, in the model's
        memory format."""
        if self.pin_memory:
            tensor = tensor.pin_memory().to(self.device, non_blocking=True)
        else:
            tensor = tensor.to(self.device)
        if self.channels_last and tensor.dim() == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor


def plan_speed(train: TrainConfig, device: torch.device) -> Speed:
    """Resolve the ``train`` section's speed settings for ``device``."""
    cuda = device.type == "cuda"
    amp_dtype, scaler = None, False
    if train.amp == "bf16":
        if cuda and not torch.cuda.is_bf16_supported():
            note_once("train.amp=bf16: this GPU has no bf16 support; training in float32 "
                      "(use train.amp=fp16)")
        else:
            amp_dtype = torch.bfloat16
    elif train.amp == "fp16":
        if cuda:
            amp_dtype, scaler = torch.float16, True
        else:
            note_once("train.amp=fp16 needs CUDA (fp16 with a grad scaler); training in "
                      "float32 on the CPU (train.amp=bf16 works on the CPU)")
    if train.channels_last and not cuda:
        note_once("train.channels_last skipped: it speeds up convolutions on CUDA only")
    if train.compile and not cuda:
        note_once("train.compile skipped: on the CPU compiling costs more than it saves "
                  "for a trial")
    return Speed(device=device, amp_dtype=amp_dtype, grad_scaler=scaler,
                 channels_last=train.channels_last and cuda, compile=train.compile and cuda,
                 pin_memory=cuda)
