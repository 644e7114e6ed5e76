"""Stratified k-fold cross-validation of one trial (``data.cv_folds``).

The train and validation sets are pooled and split into ``k`` stratified folds fixed by the
experiment seed; fold ``i`` trains on the other ``k - 1`` folds and validates on fold ``i``.
:class:`CrossValTrainer` trains all folds side by side, one epoch of each per trial epoch, and
reports the mean of every metric under its usual name plus ``<metric>_std`` (the spread over
folds), so schedulers and searchers see one trial as usual; the model's requested costs
(``params``, ``latency_ms``, ...) are one figure each, measured once on the first fold's model
(the folds share one architecture), with no spread. It has the same driving interface
as :class:`raytuner.trial.loop.Trainer` (``epochs()``, ``state_dict()``, ``load_state_dict()``), and
its checkpoint holds every fold's full state, so a resumed trial continues all folds exactly.

The data arrive standardized with the statistics of the original training split, which
overlaps each fold's validation part: a per-channel mean and std only, a negligible leak.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from raytuner.config.metrics import SPREAD_METRICS, SPREAD_SUFFIX
from raytuner.config.schema import Experiment
from raytuner.data import DataBundle
from raytuner.errors import ConfigError
from raytuner.trial.loop import EpochRunner, Trainer
from raytuner.trial.stopping import EarlyStopping


def cv_splits(labels: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` stratified (train indices, validation indices) pairs; the validation parts are
    disjoint and cover every example once. The same ``seed`` gives the same folds."""
    counts = np.bincount(labels)
    smallest = int(counts[counts > 0].min())
    if k > smallest:
        raise ConfigError(f"cv_folds {k} is more than the {smallest} examples of the smallest "
                          "class; stratified folds need at least one per fold",
                          path="data.cv_folds")
    # deferred: a trial without folds (and its worker process) never loads scikit-learn
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(np.sort(tr), np.sort(va)) for tr, va in folds.split(np.zeros(len(labels)), labels)]


def fold_bundles(data: DataBundle, k: int, seed: int) -> list[DataBundle]:
    """The ``k`` cross-validation data sets made from ``data``'s train and validation sets."""
    x = torch.cat([data.train_x, data.val_x])
    y = torch.cat([data.train_y, data.val_y])
    bundles = []
    for train_idx, val_idx in cv_splits(y.numpy(), k, seed):
        tr, va = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
        bundles.append(DataBundle(data.name, x[tr], y[tr], x[va], y[va], data.num_classes,
                                  augmentations=tuple(data.augmentations)))
    return bundles


class CrossValTrainer(EpochRunner):
    """One trial trained on ``k`` folds; reports fold means and spreads every epoch."""

    def __init__(self, exp: Experiment, data: DataBundle, device: str | torch.device = "cpu"):
        self.exp = exp
        self.k = int(exp.data.cv_folds)
        # Early stopping judges the trial on the fold mean; folds must never stop on their own.
        # The model's costs are the same in every fold: measured once, from the first fold.
        self.folds = [Trainer(exp, bundle, device, stop_early=False, report_costs=False)
                      for bundle in fold_bundles(data, self.k, exp.seed)]
        self.stopping = EarlyStopping(exp.train.early_stopping, exp.search.metric,
                                      exp.search.mode)
        self.epoch = 0
        self.history: list[dict[str, float]] = []

    def run_epoch(self) -> dict[str, float]:
        """One epoch of every fold; the mean and spread of their metrics."""
        sizes = [len(fold.data.train_y) for fold in self.folds]
        metrics = aggregate([fold.run_epoch() for fold in self.folds], sizes)
        self.epoch += 1
        metrics["epoch"] = self.epoch
        metrics.update(self.folds[0].costs())  # one figure each, no spread: one architecture
        self.history.append(metrics)
        self.stopping.update(metrics)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Every fold's full state plus the trial's own progress."""
        return {
            "cv_folds": self.k,
            "folds": [fold.state_dict() for fold in self.folds],
            "epoch": self.epoch,
            "history": [dict(m) for m in self.history],
            "early_stopping": self.stopping.state_dict(),
            "config": self.exp.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; a checkpoint of another fold count is refused."""
        if state.get("cv_folds") != self.k or len(state.get("folds", ())) != self.k:
            raise ConfigError(f"checkpoint holds {state.get('cv_folds')} folds, the experiment "
                              f"asks for {self.k}", path="data.cv_folds")
        # Every fold saved the same global RNG state (taken after the same epoch), so loading
        # them in order leaves it exactly where the uninterrupted run had it.
        for fold, fold_state in zip(self.folds, state["folds"], strict=True):
            fold.load_state_dict(fold_state)
        self.epoch = int(state["epoch"])
        self.history = [dict(m) for m in state["history"]]
        self.stopping.load_state_dict(state["early_stopping"])


def aggregate(per_fold: list[dict[str, float]], sizes: list[int]) -> dict[str, float]:
    """Mean of every fold metric, ``<name>_std`` (population std) of those that differ by fold,
    the total epoch time and the training throughput over all folds (``sizes``: examples each
    fold trains on)."""
    out: dict[str, float] = {}
    for key in per_fold[0]:
        values = np.array([m[key] for m in per_fold], dtype=float)
        out[key] = float(values.mean())
        if key in SPREAD_METRICS:
            out[f"{key}{SPREAD_SUFFIX}"] = float(values.std())
    out["epoch_time_s"] = float(sum(m["epoch_time_s"] for m in per_fold))
    train_time = sum(n / max(m["samples_per_s"], 1e-9) for m, n in zip(per_fold, sizes,
                                                                         strict=True))
    out["samples_per_s"] = float(sum(sizes) / max(train_time, 1e-9))
    return out


def make_trainer(exp: Experiment, data: DataBundle, device: str | torch.device = "cpu"
                 ) -> Trainer | CrossValTrainer:
    """The trainer for ``exp``: cross-validated when ``data.cv_folds`` > 1."""
    if (exp.data.cv_folds or 1) > 1:
        return CrossValTrainer(exp, data, device)
    return Trainer(exp, data, device)
