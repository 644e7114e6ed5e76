"""Batch-wise data augmentation of in-memory image tensors (``train.augment``).

Augmentations run on whole batches on the trainer's device and draw their randomness from the
trainer's private generator, so a resumed trial sees exactly the same augmented batches as an
uninterrupted one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raytuner.errors import ConfigError

if TYPE_CHECKING:  # the config validates with this module: no import back at runtime
    import torch

    from raytuner.config.schema import AugmentConfig


def requested(augment: AugmentConfig) -> list[str]:
    """The augmentations ``train.augment`` turns on."""
    return [name for name, on in (("crop", augment.crop_padding > 0), ("hflip", augment.hflip))
            if on]


def check_augment(augment: AugmentConfig, allowed: tuple[str, ...] | None, data_name: str,
                  input_shape: tuple[int, ...] | None = None) -> None:
    """A ConfigError when ``train.augment`` asks for something the data set does not allow.

    ``allowed`` is the data set's declaration (None: not known yet, checked once loaded).
    """
    for name in requested(augment):
        if allowed is not None and name not in allowed:
            key = "crop_padding" if name == "crop" else "hflip"
            given = augment.crop_padding if name == "crop" else augment.hflip
            ok = ", ".join(allowed) or "none"
            raise ConfigError(f"augmentation {name!r} makes no sense for data set "
                              f"{data_name!r} (got {key}: {given!r}); it allows: {ok}",
                              path=f"train.augment.{key}")
    if input_shape is not None and len(input_shape) != 3 and requested(augment):
        raise ConfigError(f"augmentation needs images (C, H, W); data set {data_name!r} has "
                          f"inputs of shape {tuple(input_shape)}", path="train.augment")


def augment_batch(x: torch.Tensor, augment: AugmentConfig, generator: torch.Generator
                  ) -> torch.Tensor:
    """Randomly crop (after zero padding: the mean of standardized data) and flip a batch
    ``(B, C, H, W)``; each example gets its own offsets and coin."""
    # deferred (a dictionary lookup per batch once loaded): validation imports this module's
    # checks and must not load torch
    import torch
    import torch.nn.functional as F

    batch, _, height, width = x.shape
    # keep the caller's memory format (channels-last on CUDA when train.channels_last is on)
    fmt = (torch.channels_last if not x.is_contiguous()
           and x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format)
    pad = augment.crop_padding
    if pad > 0:
        padded = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(height, device=x.device))[:, :, None]  # (B, H, 1)
        cols = (dx[:, None] + torch.arange(width, device=x.device))[:, None, :]  # (B, 1, W)
        b = torch.arange(batch, device=x.device)[:, None, None]
        # advanced indexing gives (B, H, W, C); back to (B, C, H, W)
        x = padded.permute(0, 2, 3, 1)[b, rows, cols].permute(0, 3, 1, 2)
    if augment.hflip:
        flip = (torch.rand(batch, generator=generator) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x.contiguous(memory_format=fmt)
