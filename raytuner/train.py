"""The training loop: plain PyTorch, no Ray.

:class:`Trainer` holds one trial's full state and runs one epoch at a time; its
:meth:`Trainer.state_dict` goes into every checkpoint, so a trial resumed from it continues at the
next epoch exactly as if it had never stopped (same weights, same shuffling, same dropout masks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from raytuner.config import Experiment
from raytuner.data import DataBundle
from raytuner.divergence import check_batch_loss, check_epoch
from raytuner.metrics import accuracy
from raytuner.models import create_model
from raytuner.optim import build_optimizer

EVAL_BATCH = 1024


class Trainer:
    """One trial's model, optimizer, RNG and progress, trained epoch by epoch."""

    def __init__(self, exp: Experiment, data: DataBundle, device: str | torch.device = "cpu"):
        self.exp = exp
        self.data = data
        self.device = torch.device(device)
        # Seed the global RNG (weight init, dropout) and a private one (shuffling) from the
        # experiment seed: trials sharing a reused actor must not inherit each other's RNG.
        torch.manual_seed(exp.seed)
        self.generator = torch.Generator().manual_seed(exp.seed)
        self.model: nn.Module = create_model(exp.model_name, data.input_shape, data.num_classes,
                                             **exp.model_settings).to(self.device)
        self.optimizer = build_optimizer(exp.train, self.model.parameters())
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self._train = (data.train_x.to(self.device), data.train_y.to(self.device))
        self._val = (data.val_x.to(self.device), data.val_y.to(self.device))

    # -- one epoch ------------------------------------------------------------------------

    def train_one_epoch(self) -> dict[str, float]:
        """One pass over the shuffled training set; mean loss and accuracy."""
        self.model.train()
        x_all, y_all = self._train
        n = len(y_all)
        order = torch.randperm(n, generator=self.generator).to(self.device)
        batch = self.exp.train.batch_size
        total_loss, correct = 0.0, 0
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            x, y = x_all[idx], y_all[idx]
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total_loss += loss.item() * len(y)
            check_batch_loss(total_loss, self.epoch + 1)  # NaN/inf: stop now (Diverged)
            correct += (logits.argmax(dim=1) == y).sum().item()
        return {"train_loss": total_loss / n, "train_accuracy": correct / n}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Loss and accuracy on the held-out validation split."""
        self.model.eval()
        x_all, y_all = self._val
        logits = torch.cat([self.model(x_all[i:i + EVAL_BATCH])
                            for i in range(0, len(y_all), EVAL_BATCH)])
        return {"val_loss": F.cross_entropy(logits, y_all).item(),
                "val_accuracy": accuracy(logits, y_all)}

    def run_epoch(self) -> dict[str, float]:
        """Train one epoch, evaluate, and return this epoch's metrics."""
        lr = self.optimizer.param_groups[0]["lr"]
        start = time.perf_counter()
        train_metrics = self.train_one_epoch()
        train_time = time.perf_counter() - start
        metrics = {**train_metrics, **self.evaluate()}
        self.epoch += 1
        metrics.update(epoch=self.epoch, lr=lr, epoch_time_s=time.perf_counter() - start,
                       samples_per_s=len(self._train[1]) / max(train_time, 1e-9))
        self.history.append(metrics)
        check_epoch(metrics, self.history, self.exp.train.divergence_factor)  # may raise Diverged
        return metrics

    @property
    def finished(self) -> bool:
        return self.epoch >= self.exp.train.epochs

    def epochs(self) -> Iterator[dict[str, float]]:
        """Run the remaining epochs, yielding each epoch's metrics."""
        while not self.finished:
            yield self.run_epoch()

    # -- state ----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where training stopped."""
        rng = {"torch": torch.get_rng_state(), "shuffle": self.generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "history": [dict(m) for m in self.history],
            "rng": rng,
            "config": self.exp.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (e.g. loaded from a checkpoint)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.history = [dict(m) for m in state["history"]]
        torch.set_rng_state(state["rng"]["torch"].cpu())
        self.generator.set_state(state["rng"]["shuffle"].cpu())
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), self.device)


def fit(exp: Experiment, data: DataBundle, *, state: dict[str, Any] | None = None,
        on_epoch_end: Callable[[dict[str, float], Trainer], None] | None = None,
        device: str | torch.device = "cpu") -> Trainer:
    """Train ``exp`` on ``data`` to ``train.epochs``, optionally resuming from ``state``.

    ``on_epoch_end(metrics, trainer)`` runs after every epoch (the Ray adapter reports and
    checkpoints there). Returns the trainer with the final state.
    """
    trainer = Trainer(exp, data, device)
    if state is not None:
        trainer.load_state_dict(state)
    for metrics in trainer.epochs():
        if on_epoch_end is not None:
            on_epoch_end(metrics, trainer)
    return trainer

