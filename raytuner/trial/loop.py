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

from raytuner.config.metrics import check_metric_name, is_cost, requested_metrics
from raytuner.config.schema import Experiment
from raytuner.data import DataBundle
from raytuner.models import create_model
from raytuner.trial.accel import plan_speed
from raytuner.trial.augment import augment_batch, check_augment, requested
from raytuner.trial.costs import latency_batch, measure_costs
from raytuner.trial.divergence import check_batch_loss, check_epoch
from raytuner.trial.metrics import classification_metrics
from raytuner.trial.optim import build_optimizer
from raytuner.trial.schedules import LRSchedule, batch_bounds, steps_per_epoch
from raytuner.trial.stopping import EarlyStopping

EVAL_BATCH = 1024


class EpochRunner:
    """What drives a trial: :meth:`epochs` runs :meth:`run_epoch` until :attr:`finished`
    (shared by :class:`Trainer` and the cross-validated trainer of many folds)."""

    exp: Experiment
    epoch: int
    stopping: EarlyStopping

    def run_epoch(self) -> dict[str, float]:
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        """True after ``train.epochs`` epochs, or earlier when early stopping ended the run."""
        return self.epoch >= self.exp.train.epochs or self.stopping.stopped

    def epochs(self) -> Iterator[dict[str, float]]:
        """Run the remaining epochs, yielding each epoch's metrics."""
        while not self.finished:
            yield self.run_epoch()


class Trainer(EpochRunner):
    """One trial's model, optimizer, RNG and progress, trained epoch by epoch.

    ``stop_early=False`` ignores ``train.early_stopping`` (a cross-validation fold: the trial
    stops on the mean of its folds, never on one fold alone). ``report_costs=False`` leaves
    the requested costs out of :meth:`run_epoch`'s metrics (a fold again: the trial reports
    them once, from its first fold's :meth:`costs`).
    """

    def __init__(self, exp: Experiment, data: DataBundle, device: str | torch.device = "cpu",
                 *, stop_early: bool = True, report_costs: bool = True):
        self.exp = exp
        self.data = data
        self.device = torch.device(device)
        check_data_fits(exp, data)
        self.speed = plan_speed(exp.train, self.device)
        # Seed the global RNG (weight init, dropout) and a private one (shuffling) from the
        # experiment seed: trials sharing a reused actor must not inherit each other's RNG.
        torch.manual_seed(exp.seed)
        self.generator = torch.Generator().manual_seed(exp.seed)
        self.model: nn.Module = create_model(exp.model_name, data.input_shape, data.num_classes,
                                             **exp.model_settings).to(self.device)
        if self.speed.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # Compile a wrapper, keep the plain module: its state_dict keys stay unprefixed.
        self.forward = torch.compile(self.model) if self.speed.compile else self.model
        self.optimizer = build_optimizer(exp.train, self.model.parameters())
        # fp16 only: a disabled scaler passes losses and steps straight through
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.speed.grad_scaler)
        self.schedule = LRSchedule(
            exp.train.lr_schedule, self.optimizer, base_lr=exp.train.lr,
            epochs=exp.train.epochs,
            steps_per_epoch=steps_per_epoch(len(data.train_y), exp.train.batch_size),
            plateau_mode=self._plateau_target()[1])
        stopping = exp.train.early_stopping
        if not stop_early:
            stopping = stopping.model_copy(update={"patience": None})
        self.stopping = EarlyStopping(stopping, exp.search.metric, exp.search.mode)
        self.augment = exp.train.augment if requested(exp.train.augment) else None
        on_request = requested_metrics(exp)
        # the scikit-learn metrics this run uses (from the logits), and the model's costs
        self.extra_metrics = [name for name in on_request if not is_cost(name)]
        self.cost_names = [name for name in on_request if is_cost(name)]
        self.report_costs = report_costs
        self._costs: dict[str, float] | None = None
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self._train = (self.speed.to_device(data.train_x), self.speed.to_device(data.train_y))
        self._val = (self.speed.to_device(data.val_x), self.speed.to_device(data.val_y))

    def _plateau_target(self) -> tuple[str, str]:
        """(metric, mode) that a plateau schedule watches."""
        if self.exp.train.lr_schedule.monitor == "search":
            return self.exp.search.metric, self.exp.search.mode
        return "val_loss", "min"

    # -- one epoch ------------------------------------------------------------------------

    def train_one_epoch(self) -> dict[str, float]:
        """One pass over the shuffled training set; mean loss and accuracy."""
        self.model.train()
        x_all, y_all = self._train
        n = len(y_all)
        order = torch.randperm(n, generator=self.generator).to(self.device)
        batch = self.exp.train.batch_size
        # summed on the device: a .item() per batch would wait for the GPU at every step
        total_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        train = self.exp.train
        for start, stop in batch_bounds(n, batch):
            idx = order[start:stop]
            x, y = x_all[idx], y_all[idx]
            if self.augment is not None:
                x = augment_batch(x, self.augment, self.generator)
            with self.speed.autocast():
                logits = self.forward(x)
                loss = F.cross_entropy(logits, y, label_smoothing=train.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if train.grad_clip_norm is not None:
                self.scaler.unscale_(self.optimizer)  # clip the true gradients, not scaled ones
                nn.utils.clip_grad_norm_(self.model.parameters(), train.grad_clip_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.schedule.after_batch()
            total_loss += loss.detach().double() * len(y)
            correct += (logits.argmax(dim=1) == y).sum()
            if self.device.type == "cpu":  # NaN/inf: stop now (on a GPU, at the epoch's end:
                check_batch_loss(loss.item(), self.epoch + 1)  # a check per batch would sync)
        return {"train_loss": total_loss.item() / n, "train_accuracy": correct.item() / n}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Loss (without label smoothing, so trials compare), accuracy and the requested
        classification metrics (:func:`raytuner.trial.metrics.classification_metrics`) on the
        validation split."""
        self.model.eval()
        x_all, y_all = self._val
        with self.speed.autocast():
            logits = torch.cat([self.forward(x_all[i:i + EVAL_BATCH])
                                for i in range(0, len(y_all), EVAL_BATCH)]).float()
        return {"val_loss": F.cross_entropy(logits, y_all).item(),
                **classification_metrics(logits, y_all, self.data.num_classes,
                                         self.extra_metrics)}

    def run_epoch(self) -> dict[str, float]:
        """Train one epoch, evaluate, and return this epoch's metrics."""
        self.schedule.begin_epoch(self.epoch)
        lr = self.optimizer.param_groups[0]["lr"]
        start = time.perf_counter()
        train_metrics = self.train_one_epoch()
        train_time = time.perf_counter() - start
        metrics = {**train_metrics, **self.evaluate()}
        self.epoch += 1
        metrics.update(epoch=self.epoch, lr=lr, epoch_time_s=time.perf_counter() - start,
                       samples_per_s=len(self._train[1]) / max(train_time, 1e-9))
        if self.report_costs:  # after the clock: measuring is not part of the epoch's time
            metrics.update(self.costs())
        self.history.append(metrics)
        self.schedule.end_epoch(metrics.get(self._plateau_target()[0]))
        self.stopping.update(metrics)
        check_epoch(metrics, self.history, self.exp.train.divergence_factor)  # may raise Diverged
        return metrics

    def costs(self) -> dict[str, float]:
        """The model's requested costs (``params``, ``model_bytes``, ``latency_ms``, ``flops``;
        :mod:`raytuner.trial.costs`), ``{}`` when the experiment asks for none.

        Measured on the first call, then the same figures: the architecture of a trial is
        fixed. :meth:`run_epoch` first calls it after the first epoch has trained and
        evaluated, so the latency times a warm model (data on the device, a compiled graph
        built, the allocator grown) and the first epoch's time does not include it. The
        latency batch is the first ``search.latency_batch`` validation examples (repeated when
        there are fewer), copied to the device like the validation set and run through the
        forward and autocast that :meth:`evaluate` uses.

        Not part of :meth:`state_dict`: a resumed trial measures again in its new process, on
        the device it now runs on (a stored latency could be another machine's). ``params``,
        ``model_bytes`` and ``flops`` come out the same; the latency is a new sample of the
        same fixed protocol, whatever epoch the trial resumes at.
        """
        if self._costs is None:
            if not self.cost_names:
                self._costs = {}
            else:
                batch = self.speed.to_device(
                    latency_batch(self.data.val_x, self.exp.search.latency_batch))
                self._costs = measure_costs(self.model, batch, self.cost_names,
                                            forward=self.forward, autocast=self.speed.autocast)
        return dict(self._costs)

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
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "early_stopping": self.stopping.state_dict(),
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
        # absent from checkpoints written before schedules existed: their defaults are right
        if "schedule" in state:
            self.schedule.load_state_dict(state["schedule"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if "early_stopping" in state:
            self.stopping.load_state_dict(state["early_stopping"])


def check_data_fits(exp: Experiment, data: DataBundle) -> None:
    """ConfigError when the experiment asks for something the loaded data cannot give:
    an augmentation the set does not allow, or a metric it cannot have (top-5 of 5 classes)."""
    check_augment(exp.train.augment, tuple(data.augmentations), data.name, data.input_shape)
    check_metric_name(exp.search.metric, exp, num_classes=data.num_classes)


def fit(exp: Experiment, data: DataBundle, *, state: dict[str, Any] | None = None,
        on_epoch_end: Callable[[dict[str, float], Trainer], None] | None = None,
        device: str | torch.device = "cpu") -> Trainer:
    """Train ``exp`` on ``data`` to ``train.epochs``, optionally resuming from ``state``.

    ``on_epoch_end(metrics, trainer)`` runs after every epoch (an in-process driver can report
    or checkpoint there; the Ray adapter drives :meth:`Trainer.epochs` itself). Returns the
    trainer with the final state.
    """
    trainer = Trainer(exp, data, device)
    if state is not None:
        trainer.load_state_dict(state)
    for metrics in trainer.epochs():
        if on_epoch_end is not None:
            on_epoch_end(metrics, trainer)
    return trainer

