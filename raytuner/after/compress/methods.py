"""Compression methods: magnitude pruning and int8 quantization (dynamic and FX static).

Each method takes a float model in eval mode and returns a new model; the input model is never
changed. Quantized models run on the CPU only.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.utils import prune

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@contextmanager
def _quiet() -> Iterator[None]:
    # torch.ao.quantization warns on every call that it will move to torchao; the API is still
    # the one shipped with the installed torch, and the warning would drown the table.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def prune_magnitude(model: nn.Module, sparsity: float) -> nn.Module:
    """Global magnitude (L1) pruning of every Linear/Conv weight to ``sparsity``, made
    permanent (the zeros are written into the weights and the pruning masks removed)."""
    pruned = copy.deepcopy(model)
    targets = [(m, "weight") for m in pruned.modules() if isinstance(m, PRUNABLE)]
    if not targets:
        raise ValueError("the model has no Linear or Conv layer to prune")
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=sparsity)
    for module, name in targets:
        prune.remove(module, name)
    return pruned.eval()


def weight_sparsity(model: nn.Module) -> float:
    """Share of zero weights over every Linear/Conv weight."""
    weights = [m.weight for m in model.modules() if isinstance(m, PRUNABLE)]
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / max(total, 1)


def quantize_dynamic(model: nn.Module) -> nn.Module:
    """int8 dynamic quantization of the Linear layers (weights int8, activations quantized on
    the fly); convolutions stay float."""
    # deferred: torch.ao.quantization is heavy and only compression needs it
    from torch.ao.quantization import quantize_dynamic as _quantize_dynamic

    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise ValueError("the model has no Linear layer to quantize dynamically")
    with _quiet():
        return _quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear},
                                 dtype=torch.qint8).eval()


def _engine() -> str:
    engines = torch.backends.quantized.supported_engines
    engine = "x86" if "x86" in engines else ("qnnpack" if "qnnpack" in engines else engines[0])
    torch.backends.quantized.engine = engine
    return engine


def prepare_static(model: nn.Module, example: torch.Tensor) -> nn.Module:
    """The model traced by FX with observers inserted (conv/bn/relu fused), ready to calibrate."""
    # deferred: torch.ao.quantization is heavy and only compression needs it
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_fx

    with _quiet():
        mapping = get_default_qconfig_mapping(_engine())
        return prepare_fx(copy.deepcopy(model).eval(), mapping, (example,))


def convert_static(prepared: nn.Module) -> nn.Module:
    """The calibrated (or, when rebuilding from weights, uncalibrated) model converted to int8."""
    # deferred: torch.ao.quantization is heavy and only compression needs it
    from torch.ao.quantization.quantize_fx import convert_fx

    with _quiet():
        return convert_fx(prepared).eval()


@torch.no_grad()
def quantize_static(model: nn.Module, calibration: torch.Tensor, batch: int = 256) -> nn.Module:
    """int8 static quantization (FX graph mode) of weights and activations; activation ranges
    come from a calibration pass over ``calibration`` (training data)."""
    prepared = prepare_static(model, calibration[:1])
    with _quiet():
        for start in range(0, len(calibration), batch):
            prepared(calibration[start:start + batch])
    return convert_static(prepared)


def rebuild(model: nn.Module, method: str, example: torch.Tensor) -> nn.Module:
    """An empty model with the structure ``method`` produces, to load its saved state into."""
    if method in ("original", "pruned"):
        return model.eval()
    if method == "dynamic":
        return quantize_dynamic(model)
    if method == "static":
        with torch.no_grad(), _quiet():
            prepared = prepare_static(model, example)
            prepared(example)  # observers need one batch; the loaded state replaces the ranges
        return convert_static(prepared)
    raise ValueError(f"unknown compression method {method!r}")
