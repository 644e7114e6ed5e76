"""Measuring a model's costs: the ``cost=True`` metrics of the catalogue
(:mod:`raytuner.config.metrics`).

- ``params``: trainable parameters (frozen ones are not searched over, nor stored by an
  optimizer).
- ``model_bytes``: the size of ``torch.save(model.state_dict())``, what a checkpoint or an
  export of the weights weighs (buffers such as batch-norm statistics included).
- ``latency_ms``: the median wall time of one forward pass of a fixed batch on the model's
  device, in eval mode, without gradients, after a warm-up.
- ``flops``: floating-point operations of one forward pass per example, as
  ``torch.utils.flop_counter`` counts them.

A trial's architecture is fixed, so the training loop measures them once per trial
(:meth:`raytuner.trial.loop.Trainer.costs`) and reports the same figures every epoch. Nothing
here is called unless an experiment asks for a cost. No Ray.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from collections.abc import Callable, Collection, Iterator

import torch
from torch import nn

from raytuner.config.metrics import CATALOGUE

#: the cost metrics, in the order a trial reports them
COSTS: tuple[str, ...] = tuple(m.name for m in CATALOGUE if m.cost)

#: Untimed calls before the clock starts: they absorb the one-off costs of a first call
#: (lazy CUDA/cuDNN initialization and algorithm choice, the allocator growing, a compiled
#: model's graph for a new batch shape, cold caches), which are not the model's latency.
LATENCY_WARMUP = 5
#: Timed calls; the median of them is reported. Fixed, not "as many as fit in a second", so
#: every trial pays the same and every trial's figure rests on the same number of samples; the
#: median of 20 ignores a few outliers (a garbage collection, a neighbouring trial's burst on
#: a shared machine) while keeping the whole measurement at 25 forward passes of one batch.
LATENCY_RUNS = 20

Forward = Callable[[torch.Tensor], torch.Tensor]


def count_params(model: nn.Module) -> int:
    """Number of trainable (``requires_grad``) parameter elements of ``model``; a parameter
    shared by several modules counts once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def state_bytes(model: nn.Module) -> bytes:
    """The bytes ``torch.save(model.state_dict())`` writes: the weights and buffers."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getvalue()


def serialized_bytes(model: nn.Module) -> int:
    """Size of :func:`state_bytes`."""
    return len(state_bytes(model))


def latency_batch(x: torch.Tensor, size: int) -> torch.Tensor:
    """The first ``size`` rows of ``x``, repeated from the start when ``x`` has fewer (so
    every trial of an experiment times the same batch size, however small its split)."""
    if len(x) == 0:
        raise ValueError("no examples to time a forward pass with")
    return x[torch.arange(size) % len(x)]


@contextlib.contextmanager
def _inference(module: object) -> Iterator[None]:
    """Eval mode (dropout off, batch-norm statistics fixed) and no gradients; the module's
    training mode back afterwards."""
    was_training = isinstance(module, nn.Module) and module.training
    if isinstance(module, nn.Module):
        module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if was_training:
            module.train()


def _synchronize(device: torch.device) -> None:
    # CUDA kernels run asynchronously: without waiting for them the clock would time only
    # their launch.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def inference_latency_ms(forward: Forward, batch: torch.Tensor, *,
                         warmup: int = LATENCY_WARMUP, runs: int = LATENCY_RUNS,
                         device: torch.device | str | None = None) -> float:
    """Median milliseconds of ``forward(batch)`` over ``runs`` timed calls after ``warmup``
    untimed ones, in eval mode without gradients (when ``forward`` is a module; a function
    leaves that to its caller); ``device`` (default: the batch's) is synchronized before each
    reading of the clock."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    device = torch.device(device) if device is not None else batch.device
    times = []
    with _inference(forward):
        for _ in range(warmup):
            forward(batch)
        for _ in range(runs):
            _synchronize(device)
            start = time.perf_counter()
            forward(batch)
            _synchronize(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def flops_per_example(model: nn.Module, example_batch: torch.Tensor) -> float:
    """Floating-point operations of one forward pass of ``model`` (in eval mode) over
    ``example_batch``, divided by its size.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` as PyTorch counts them: the matrix
    products and convolutions (and attention), a multiply-add being 2 flops; element-wise work
    (biases, activations, normalization, pooling) is not counted. So ``nn.Linear(i, o)`` is
    ``2 * i * o`` per example. The count does not depend on the weights or the data.
    """
    from torch.utils.flop_counter import FlopCounterMode  # deferred: only a costs trial

    counter = FlopCounterMode(display=False)
    with _inference(model), counter:
        model(example_batch)
    return counter.get_total_flops() / len(example_batch)


def measure_costs(model: nn.Module, batch: torch.Tensor, names: Collection[str], *,
                  forward: Forward | None = None,
                  autocast: Callable[[], contextlib.AbstractContextManager] | None = None
                  ) -> dict[str, float]:
    """The costs among ``names`` (others are ignored) of ``model``, in :data:`COSTS` order;
    only those asked for are computed.

    ``batch`` is the timed batch, already on the model's device and in its memory format.
    ``forward`` (default: ``model``) is what the latency times, e.g. the trainer's compiled
    wrapper, inside ``autocast()`` when given, as the trainer evaluates. FLOPs are counted on
    the plain ``model`` (the same arithmetic; the flop counter does not see inside a compiled
    graph). Runs under a forked RNG, so measuring never changes a trial's random stream.
    """
    wanted = [name for name in COSTS if name in set(names)]
    out: dict[str, float] = {}
    if not wanted:
        return out
    run = model if forward is None else forward

    def timed(x: torch.Tensor) -> torch.Tensor:
        with autocast() if autocast is not None else contextlib.nullcontext():
            return run(x)

    devices = [batch.device] if batch.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        for name in wanted:
            if name == "params":
                out[name] = count_params(model)
            elif name == "model_bytes":
                out[name] = serialized_bytes(model)
            elif name == "latency_ms":
                # ``run`` in eval mode (a compiled wrapper passes it on to ``model``)
                with _inference(run):
                    out[name] = inference_latency_ms(timed, batch, device=batch.device)
            elif name == "flops":
                out[name] = flops_per_example(model, batch)
    return out
