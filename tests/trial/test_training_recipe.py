"""The training toolbox: optimizers, LR schedules and warmup, clipping, label smoothing,
augmentation, early stopping, mixed precision, scikit-learn metrics and cross-validation."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from raytuner.config import AugmentConfig, LRScheduleConfig, validate_experiment, with_params
from raytuner.config.metrics import check_metric_name, reported_metrics
from raytuner.data import DataBundle, load_dataset
from raytuner.errors import ConfigError
from raytuner.trial.augment import augment_batch
from raytuner.trial.checkpoint import load_state, save_state
from raytuner.trial.crossval import CrossValTrainer, cv_splits, make_trainer
from raytuner.trial.loop import Trainer, fit
from raytuner.trial.metrics import classification_metrics
from raytuner.trial.schedules import LRSchedule

from conftest import run_cli, tiny_experiment, write_yaml  # isort: skip

SMALL = {"model.channels": 4, "model.hidden": 16, "train.batch_size": 256}


def _subset(d: DataBundle, name: str | None = None, **kwargs) -> DataBundle:
    """The first 500 training and 200 validation digits: every class, a quarter of the cost."""
    return DataBundle(name or d.name, d.train_x[:500], d.train_y[:500], d.val_x[:200],
                      d.val_y[:200], d.num_classes, **kwargs)


@pytest.fixture(scope="module")
def digits() -> DataBundle:
    exp = validate_experiment(tiny_experiment())
    return _subset(load_dataset(exp.data, exp.seed), augmentations=())


USER_DATA = "test_training_recipe:flippable_digits"


def flippable_digits(data_config, seed: int) -> DataBundle:
    """A user data set by import path: digits' tensors, declared (by the DataBundle default)
    to allow crops and flips."""
    from raytuner.config import DataConfig

    return _subset(load_dataset(DataConfig(val_fraction=data_config.val_fraction), seed),
                   "user-images")


@pytest.fixture(scope="module")
def flippable() -> DataBundle:
    exp = _exp(**{"data.name": USER_DATA})
    return load_dataset(exp.data, exp.seed)


def _exp(**changes):
    return validate_experiment(tiny_experiment(**{**SMALL, **changes}))


def _lrs(trainer) -> list[float]:
    return [m["lr"] for m in trainer.history]


def _assert_same_run(a, b) -> None:
    for (name, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values(),
                            strict=True):
        assert torch.equal(x, y), name
    assert [h["val_loss"] for h in a.history] == [h["val_loss"] for h in b.history]
    assert [h["lr"] for h in a.history] == [h["lr"] for h in b.history]


# ---------------------------------------------------------------------------------------------
# Optimizers, clipping, label smoothing


@pytest.mark.parametrize("optimizer,extra", [
    ("sgd", {"train.momentum": 0.9, "train.nesterov": True}),
    ("sgd", {"train.momentum": 0.0}),
    ("adam", {"train.beta1": 0.8, "train.beta2": 0.99}),
    ("adamw", {"train.weight_decay": 0.01}),
    ("rmsprop", {"train.momentum": 0.5}),
])
def test_every_optimizer_steps(digits, optimizer: str, extra: dict) -> None:
    exp = _exp(**{"train.optimizer": optimizer, "train.epochs": 1, "train.lr": 0.01, **extra})
    trainer = Trainer(exp, digits)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    metrics = trainer.run_epoch()
    assert math.isfinite(metrics["train_loss"])
    assert all(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(),
                                                     strict=True))
    group = trainer.optimizer.param_groups[0]
    if optimizer in ("adam", "adamw"):
        expected = (extra.get("train.beta1", 0.9), extra.get("train.beta2", 0.999))
        assert group["betas"] == expected
    if optimizer == "sgd":
        assert group["nesterov"] is bool(extra.get("train.nesterov", False))


def _grad_norms_at_step(trainer) -> list[float]:
    norms: list[float] = []

    def record(optimizer, args, kwargs) -> None:
        grads = [p.grad.flatten() for g in optimizer.param_groups for p in g["params"]
                 if p.grad is not None]
        norms.append(torch.cat(grads).norm().item())

    trainer.optimizer.register_step_pre_hook(record)
    return norms


def test_grad_clip_norm_bounds_the_gradient_norm(digits) -> None:
    clipped = Trainer(_exp(**{"train.grad_clip_norm": 0.05, "train.epochs": 1}), digits)
    free = Trainer(_exp(**{"train.epochs": 1}), digits)
    clipped_norms, free_norms = _grad_norms_at_step(clipped), _grad_norms_at_step(free)
    clipped.run_epoch()
    free.run_epoch()
    assert len(clipped_norms) == math.ceil(len(digits.train_y) / 256)
    assert max(clipped_norms) <= 0.05 * (1 + 1e-4)
    assert max(free_norms) > 0.05  # the bound was binding: the test can fail


def test_label_smoothing_changes_the_training_loss_only(digits) -> None:
    plain = Trainer(_exp(**{"train.epochs": 1}), digits)
    smooth = Trainer(_exp(**{"train.epochs": 1, "train.label_smoothing": 0.2}), digits)
    with torch.no_grad():  # same initial weights, same logits: only the loss differs
        x, y = digits.train_x[:64], digits.train_y[:64]
        logits = plain.model.eval()(x)
        assert torch.equal(logits, smooth.model.eval()(x))
    a, b = plain.run_epoch(), smooth.run_epoch()
    assert a["train_loss"] != b["train_loss"]
    smoothed = torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.2)
    assert not torch.isclose(smoothed, torch.nn.functional.cross_entropy(logits, y))
    # validation loss is plain cross-entropy for both, so trials with and without compare
    val_logits = smooth.model.eval()(digits.val_x)
    assert b["val_loss"] == pytest.approx(
        torch.nn.functional.cross_entropy(val_logits, digits.val_y).item(), rel=1e-5)


# ---------------------------------------------------------------------------------------------
# LR schedules and warmup


def _schedule(name: str, epochs: int = 8, spe: int = 5, lr: float = 0.1, **settings):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    cfg = LRScheduleConfig(name=name, **settings)
    return LRSchedule(cfg, optimizer, base_lr=lr, epochs=epochs, steps_per_epoch=spe), optimizer


def _torch_epoch_lrs(make, epochs: int, lr: float = 0.1) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = make(optimizer)
    out = []
    for _ in range(epochs):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def _our_epoch_lrs(schedule, optimizer, epochs: int) -> list[float]:
    out = []
    for epoch in range(epochs):
        schedule.begin_epoch(epoch)
        out.append(optimizer.param_groups[0]["lr"])
        for _ in range(schedule.steps_per_epoch):
            schedule.after_batch()
        schedule.end_epoch(1.0)
    return out


@pytest.mark.parametrize("name,settings,make", [
    ("constant", {}, lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=1.0)),
    ("step", {"step_size": 3, "gamma": 0.5},
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
    ("multistep", {"milestones": [2, 5]},
     lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 5], gamma=0.1)),
    ("multistep", {}, lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[4, 6])),
    ("exponential", {}, lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    ("cosine", {"min_lr": 0.01},
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=8, eta_min=0.01)),
])
def test_epoch_schedules_match_torch(name: str, settings: dict, make) -> None:
    schedule, optimizer = _schedule(name, **settings)
    ours = _our_epoch_lrs(schedule, optimizer, 8)
    assert ours == pytest.approx(_torch_epoch_lrs(make, 8), rel=1e-9, abs=1e-12)
    if name != "constant":
        assert ours[-1] < ours[0]


def test_onecycle_steps_per_batch_and_matches_torch() -> None:
    epochs, spe = 4, 5
    schedule, optimizer = _schedule("onecycle", epochs=epochs, spe=spe, pct_start=0.25)
    param = torch.nn.Parameter(torch.zeros(1))
    reference_opt = torch.optim.SGD([param], lr=0.1)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        reference_opt, max_lr=0.1, total_steps=epochs * spe, pct_start=0.25,
        cycle_momentum=False)
    ours, theirs = [], []
    for epoch in range(epochs):
        schedule.begin_epoch(epoch)
        for _ in range(spe):
            ours.append(optimizer.param_groups[0]["lr"])
            theirs.append(reference_opt.param_groups[0]["lr"])
            schedule.after_batch()
            reference_opt.step()
            reference.step()
    assert ours == pytest.approx(theirs, rel=1e-9)
    assert len(set(ours[:spe])) == spe  # the lr changes within an epoch
    assert max(ours) == pytest.approx(0.1, rel=1e-3) and ours[0] == pytest.approx(0.1 / 25)


def test_warmup_ramps_linearly_then_hands_over_to_the_schedule() -> None:
    schedule, optimizer = _schedule("step", epochs=8, warmup_epochs=3, warmup_start_factor=0.25,
                                    step_size=2, gamma=0.5)
    lrs = _our_epoch_lrs(schedule, optimizer, 8)
    assert lrs == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.05, 0.05, 0.025])


def test_plateau_reduces_after_patience_and_not_during_warmup() -> None:
    schedule, optimizer = _schedule("plateau", epochs=10, warmup_epochs=2, patience=1,
                                    gamma=0.5)
    seen = []
    for epoch, loss in enumerate([9.0, 9.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]):
        schedule.begin_epoch(epoch)
        seen.append(optimizer.param_groups[0]["lr"])
        schedule.end_epoch(loss)
    # warmup 0.01 -> 0.055; epoch 2 sets best; two flat epochs -> halve; better; two flat -> halve
    assert seen == pytest.approx([0.01, 0.055, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05])
    schedule.begin_epoch(8)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.025)


# per schedule: whether the rate has dropped below train.lr by the third epoch
@pytest.mark.parametrize("name, decays", [
    ("constant", False), ("step", True), ("multistep", True), ("exponential", True),
    ("cosine", True), ("onecycle", False), ("plateau", False)])
def test_every_schedule_drives_the_trainer(digits, name: str, decays: bool) -> None:
    exp = _exp(**{"train.epochs": 3, "train.lr_schedule": {
        "name": name, "warmup_epochs": 1, "step_size": 1, "milestones": [1]}})
    trainer = fit(exp, digits)
    lrs = _lrs(trainer)
    assert lrs[0] == pytest.approx(0.1 * 0.003)  # warmup starts at 10% of train.lr
    # the rate each epoch starts with is what the schedule says for that epoch (plateau: no
    # loss plateau in three epochs; onecycle: its per-batch curve at the epoch's first batch)
    assert lrs == pytest.approx([trainer.schedule.lr_for(e) for e in range(3)])
    assert (lrs[2] < lrs[1] == pytest.approx(0.003)) is decays, lrs


def test_searching_the_schedule_by_dotted_path_is_validated() -> None:
    raw = tiny_experiment(**{"search.space": {
        "train.lr_schedule.name": {"choice": ["cosine", "onecycle"]},
        "train.lr_schedule.warmup_epochs": {"int": [0, 2]}}})
    exp = validate_experiment(raw)
    trial = with_params(exp, {"train.lr_schedule.name": "onecycle",
                              "train.lr_schedule.warmup_epochs": 2})
    assert (trial.train.lr_schedule.name, trial.train.lr_schedule.warmup_epochs) == \
        ("onecycle", 2)
    assert exp.train.lr_schedule.name == "constant"  # the experiment itself is unchanged
    bad = tiny_experiment(**{"search.space": {"train.lr_schedule.name": {
        "choice": ["cosine", "cosin"]}}})
    with pytest.raises(ConfigError, match="cosin") as info:
        validate_experiment(bad)
    assert "search.space.train.lr_schedule.name" in str(info.value)
    with pytest.raises(ConfigError, match="allowed keys: .*warmup_epochs") as info:
        validate_experiment(tiny_experiment(**{"train.lr_schedule.warmup": 2}))
    assert "train.lr_schedule.warmup" in str(info.value)
    with pytest.raises(ConfigError, match="milestones must be increasing"):
        validate_experiment(tiny_experiment(**{"train.lr_schedule.milestones": [5, 3]}))


# ---------------------------------------------------------------------------------------------
# Exact resume with every stateful part


def _resume_equals_full(exp, data, tmp_path: Path, stop_after: int = 2):
    full = make_trainer(exp, data)
    for _ in full.epochs():
        pass
    partial = make_trainer(exp, data)
    for _ in range(stop_after):
        partial.run_epoch()
    save_state(partial.state_dict(), tmp_path / "ckpt")
    del partial
    torch.manual_seed(12345)  # disturb the global RNG: resume must not depend on it
    resumed = make_trainer(exp, data)
    resumed.load_state_dict(load_state(tmp_path / "ckpt"))
    for _ in resumed.epochs():
        pass
    return full, resumed


def test_resume_is_exact_with_warmup_schedule_augmentation_and_smoothing(flippable,
                                                                         tmp_path: Path) -> None:
    exp = _exp(**{"data.name": USER_DATA, "train.epochs": 4, "model.dropout": 0.3,
                  "train.optimizer": "sgd", "train.lr": 0.05, "train.label_smoothing": 0.1,
                  "train.grad_clip_norm": 1.0,
                  "train.lr_schedule": {"name": "cosine", "warmup_epochs": 2},
                  "train.augment": {"crop_padding": 1, "hflip": True}})
    full, resumed = _resume_equals_full(exp, flippable, tmp_path)
    assert resumed.epoch == 4
    _assert_same_run(full, resumed)
    assert _lrs(full)[:3] == pytest.approx([0.005, 0.0275, 0.05])


def test_resume_is_exact_with_plateau_and_onecycle(digits, tmp_path: Path) -> None:
    for name in ("plateau", "onecycle"):
        exp = _exp(**{"train.epochs": 4, "train.lr_schedule": {
            "name": name, "patience": 0, "monitor": "search", "threshold": 0.5,
            "warmup_epochs": 1}})
        full, resumed = _resume_equals_full(exp, digits, tmp_path / name)
        _assert_same_run(full, resumed)
        final = [t.optimizer.param_groups[0]["lr"] for t in (full, resumed)]
        assert final[0] == final[1]
        if name == "plateau":  # it did reduce, so its memory had to survive the checkpoint
            assert final[0] < 0.003 and resumed.schedule.plateau.num_bad_epochs == \
                full.schedule.plateau.num_bad_epochs


# ---------------------------------------------------------------------------------------------
# Augmentation and early stopping


def test_augmentation_crops_and_flips_reproducibly() -> None:
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4) + 1
    flip = AugmentConfig(hflip=True)
    flips = [augment_batch(x, flip, torch.Generator().manual_seed(s)) for s in range(8)]
    for out in flips:
        for i in range(2):
            assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))
    assert any(not torch.equal(out, x) for out in flips)
    crop = AugmentConfig(crop_padding=1)
    out = augment_batch(x, crop, torch.Generator().manual_seed(0))
    again = augment_batch(x, crop, torch.Generator().manual_seed(0))
    assert torch.equal(out, again) and out.shape == x.shape
    for i in range(2):  # every crop is the padded image shifted by at most one pixel
        padded = torch.nn.functional.pad(x[i], (1, 1, 1, 1))
        windows = [padded[:, r:r + 4, c:c + 4] for r in range(3) for c in range(3)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_digits_refuse_augmentation_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'hflip' makes no sense for data set 'digits'"):
        validate_experiment(tiny_experiment(**{"train.augment.hflip": True}))
    with pytest.raises(ConfigError, match="train.augment.crop_padding"):
        validate_experiment(tiny_experiment(**{"search.space": {
            "train.augment.crop_padding": {"choice": [0, 2]}}}))
    path = write_yaml(tmp_path / "flip.yaml", tiny_experiment(**{"train.augment.hflip": True}))
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "train.augment.hflip" in lines[0] and "allows: none" in lines[0]


def test_early_stopping_ends_the_trial_before_its_epochs(digits, tmp_path: Path) -> None:
    # nothing improves val_accuracy by a whole 1.0: epoch 1 sets the best, epoch 3 runs out
    exp = _exp(**{"train.epochs": 6, "train.early_stopping": {"patience": 2,
                                                              "min_delta": 1.0}})
    trainer = fit(exp, digits)
    assert trainer.epoch == 3 and trainer.finished
    save_state(trainer.state_dict(), tmp_path)
    again = Trainer(exp, digits)
    again.load_state_dict(load_state(tmp_path))
    assert again.finished and list(again.epochs()) == []
    patient = fit(_exp(**{"train.epochs": 3, "train.early_stopping.patience": 5}), digits)
    assert patient.epoch == 3


# ---------------------------------------------------------------------------------------------
# Metrics


def test_metrics_agree_with_scikit_learn_on_known_inputs() -> None:
    y = torch.tensor([0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6])
    logits = torch.randn(len(y), 7, generator=torch.Generator().manual_seed(3))
    logits[torch.arange(7), y[:7]] += 4.0  # the first half right, the rest mostly wrong
    got = classification_metrics(logits, y, 7)
    probs = torch.softmax(logits.double(), 1).numpy()
    pred = probs.argmax(1)
    yn = y.numpy()
    assert got["val_accuracy"] == pytest.approx(skm.accuracy_score(yn, pred))
    assert got["val_top5_accuracy"] == pytest.approx(
        skm.top_k_accuracy_score(yn, probs, k=5, labels=np.arange(7)))
    assert got["val_precision"] == pytest.approx(
        skm.precision_score(yn, pred, average="macro", zero_division=0))
    assert got["val_recall"] == pytest.approx(skm.recall_score(yn, pred, average="macro"))
    assert got["val_f1"] == pytest.approx(skm.f1_score(yn, pred, average="macro"))
    assert got["val_roc_auc"] == pytest.approx(
        skm.roc_auc_score(yn, probs, multi_class="ovr", average="macro"))
    assert 0.5 <= got["val_accuracy"] < 1.0
    perfect = classification_metrics(torch.eye(3) * 10, torch.arange(3), 3)
    assert perfect == {"val_accuracy": 1.0, "val_precision": 1.0, "val_recall": 1.0,
                       "val_f1": 1.0, "val_roc_auc": 1.0}  # no top-5 with 3 classes
    missing = classification_metrics(torch.eye(3)[:2] * 10, torch.arange(2), 3)
    assert math.isnan(missing["val_roc_auc"])  # class 2 absent: ROC-AUC undefined


# the scikit-learn metrics on request; the model's costs (params, latency_ms, ...) are on request
# too, but measured by raytuner.trial.costs: tests/trial/test_costs.py
ON_REQUEST = ["val_top5_accuracy", "val_precision", "val_recall", "val_f1", "val_roc_auc"]


def test_reported_metrics_list_what_the_trainer_reports(digits) -> None:
    exp = _exp(**{"train.epochs": 1})
    metrics = Trainer(exp, digits).run_epoch()
    assert sorted(metrics) == sorted(reported_metrics(exp))
    assert not set(ON_REQUEST) & set(metrics)  # scikit-learn's metrics only on request
    asked = _exp(**{"train.epochs": 1, "train.metrics": ["val_f1", "val_roc_auc"]})
    metrics = Trainer(asked, digits).run_epoch()
    assert sorted(metrics) == sorted(reported_metrics(asked))
    assert {"val_f1", "val_roc_auc"} <= set(metrics) and "val_recall" not in metrics
    by_search = _exp(**{"train.epochs": 1, "search.metric": "val_recall"})
    assert "val_recall" in Trainer(by_search, digits).run_epoch()
    everything = _exp(**{"train.epochs": 1, "train.metrics": ON_REQUEST})
    assert set(ON_REQUEST) <= set(Trainer(everything, digits).run_epoch())
    for name in ("val_f1", "val_roc_auc", "val_top5_accuracy", "val_precision", "val_recall"):
        validate_experiment(tiny_experiment(**{"search.metric": name}))
    three = DataBundle("three", digits.train_x[digits.train_y < 3],
                       digits.train_y[digits.train_y < 3], digits.val_x[digits.val_y < 3],
                       digits.val_y[digits.val_y < 3], 3)
    assert "val_top5_accuracy" not in reported_metrics(exp, num_classes=3)
    with pytest.raises(ConfigError, match="unknown metric 'val_top5_accuracy'"):
        check_metric_name("val_top5_accuracy", exp, num_classes=3)
    with pytest.raises(ConfigError, match="val_top5_accuracy"):
        Trainer(_exp(**{"search.metric": "val_top5_accuracy"}), three)
    assert sorted(Trainer(everything, three).run_epoch()) == sorted(
        reported_metrics(everything, num_classes=3))


# ---------------------------------------------------------------------------------------------
# Speed settings on the CPU


def test_bf16_autocast_trains_on_the_cpu(digits) -> None:
    trainer = Trainer(_exp(**{"train.amp": "bf16", "train.epochs": 2, "train.lr": 0.01,
                              "train.batch_size": 32}), digits)
    assert trainer.speed.amp_dtype is torch.bfloat16
    seen = []
    trainer.model.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    history = list(trainer.epochs())
    assert torch.bfloat16 in seen  # the forward pass really ran in bf16
    assert all(math.isfinite(h["train_loss"]) for h in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.5  # it learns (chance: 0.1)


def test_cuda_only_settings_fall_back_on_the_cpu_with_a_note(digits, caplog) -> None:
    from raytuner.trial import accel

    accel._NOTED.clear()
    exp = _exp(**{"train.amp": "fp16", "train.channels_last": True, "train.compile": True,
                  "train.epochs": 1})
    with caplog.at_level(logging.WARNING, logger="raytuner"):
        trainer = Trainer(exp, digits)
        Trainer(exp, digits)  # a second trial in the same process: no repeated notes
    assert trainer.speed.amp_dtype is None and not trainer.scaler.is_enabled()
    assert not trainer.speed.compile and trainer.forward is trainer.model
    assert not trainer.speed.channels_last and not trainer.speed.pin_memory
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 3, notes
    assert any("fp16 needs CUDA" in n for n in notes)
    assert math.isfinite(trainer.run_epoch()["train_loss"])


def test_fp16_grad_scaler_path_checkpoints_its_scale(digits, tmp_path: Path) -> None:
    # The CUDA-only fp16 path, forced onto the CPU (torch runs fp16 autocast and GradScaler
    # there too), so the scaler's stepping, unscale-before-clip and checkpointing are tested
    # on a machine without a GPU.
    from raytuner.trial.accel import Speed

    def fp16(trainer: Trainer) -> Trainer:
        trainer.speed = Speed(device=torch.device("cpu"), amp_dtype=torch.float16,
                              grad_scaler=True)
        trainer.scaler = torch.amp.GradScaler("cpu", enabled=True, init_scale=2.0**20,
                                              growth_interval=1)
        return trainer

    exp = _exp(**{"train.epochs": 2, "train.grad_clip_norm": 1.0, "train.batch_size": 128})
    full = fp16(Trainer(exp, digits))
    list(full.epochs())
    partial = fp16(Trainer(exp, digits))
    partial.run_epoch()
    save_state(partial.state_dict(), tmp_path)
    assert partial.state_dict()["scaler"]["scale"] != 2.0**20  # the scale moved and is saved
    resumed = fp16(Trainer(exp, digits))
    resumed.load_state_dict(load_state(tmp_path))
    assert resumed.scaler.get_scale() == partial.scaler.get_scale()
    list(resumed.epochs())
    _assert_same_run(full, resumed)
    assert full.scaler.get_scale() == resumed.scaler.get_scale()


# ---------------------------------------------------------------------------------------------
# Cross-validation


def test_cv_folds_are_disjoint_stratified_and_cover_the_data(digits) -> None:
    labels = torch.cat([digits.train_y, digits.val_y]).numpy()
    folds = cv_splits(labels, 5, seed=0)
    assert len(folds) == 5
    val_parts = [set(va.tolist()) for _, va in folds]
    assert sum(len(v) for v in val_parts) == len(labels)
    assert set().union(*val_parts) == set(range(len(labels)))
    for train_idx, val_idx in folds:
        assert not set(train_idx.tolist()) & set(val_idx.tolist())
        assert len(train_idx) + len(val_idx) == len(labels)
        counts = np.bincount(labels[val_idx], minlength=10)  # each class split evenly
        assert np.abs(counts - np.bincount(labels) / 5).max() <= 1
    again = cv_splits(labels, 5, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    assert not np.array_equal(cv_splits(labels, 5, seed=1)[0][1], folds[0][1])
    with pytest.raises(ConfigError, match="data.cv_folds"):
        cv_splits(np.array([0, 0, 0, 1, 1]), 3, seed=0)


def test_cv_trainer_reports_fold_means_and_spreads(digits) -> None:
    exp = _exp(**{"data.cv_folds": 3, "train.epochs": 1, "train.metrics": ["val_f1"]})
    trainer = make_trainer(exp, digits)
    assert isinstance(trainer, CrossValTrainer) and len(trainer.folds) == 3
    metrics = trainer.run_epoch()
    assert sorted(metrics) == sorted(reported_metrics(exp))
    fold_f1 = [fold.history[-1]["val_f1"] for fold in trainer.folds]
    assert metrics["val_f1"] == pytest.approx(np.mean(fold_f1))
    assert metrics["val_f1_std"] == pytest.approx(np.std(fold_f1))
    assert metrics["epoch"] == 1 and trainer.finished
    assert len(fold_f1) == len(set(fold_f1))  # the folds really differ


def test_cv_resume_is_exact_for_every_fold(digits, tmp_path: Path) -> None:
    exp = _exp(**{"data.cv_folds": 2, "train.epochs": 3, "model.dropout": 0.2,
                  "train.lr_schedule": {"name": "cosine", "warmup_epochs": 1}})
    full, resumed = _resume_equals_full(exp, digits, tmp_path, stop_after=1)
    assert resumed.epoch == 3
    for a, b in zip(full.folds, resumed.folds, strict=True):
        _assert_same_run(a, b)
    assert [h["val_accuracy_std"] for h in full.history] == [
        h["val_accuracy_std"] for h in resumed.history]
    state = load_state(tmp_path / "ckpt")
    assert len(state["folds"]) == 2 and state["epoch"] == 1
    with pytest.raises(ConfigError, match="folds"):
        make_trainer(_exp(**{"data.cv_folds": 3}), digits).load_state_dict(state)


# ---------------------------------------------------------------------------------------------
# A real Ray run


@pytest.mark.slow
def test_ray_run_searches_the_schedule_on_val_f1_with_cv(ray_session, tmp_path: Path) -> None:
    import raytuner

    raw = tiny_experiment(**{
        **SMALL, "train.epochs": 3, "data.cv_folds": 2,
        "train.early_stopping": {"patience": 1, "min_delta": 1.0},
        "search.metric": "val_f1", "search.algorithm": "grid", "search.num_samples": 1,
        "search.scheduler": {"name": "fifo"},
        "search.space": {"train.lr_schedule.name": {"grid": ["cosine", "onecycle", "step"]}}})
    result = raytuner.run(validate_experiment(raw), storage=tmp_path / "runs")
    trials = result.summary["trials"]
    assert sorted(t["config"]["train.lr_schedule.name"] for t in trials) == [
        "cosine", "onecycle", "step"]
    for trial in trials:
        # early stopping: epoch 1 sets the best, epoch 2 cannot beat it by 1.0 -> stop
        assert trial["status"] == "stopped" and trial["epochs"] == 2, trial
        assert 0.0 < trial["metrics"]["val_f1"] <= 1.0
        assert trial["metrics"]["val_f1_std"] >= 0.0
    assert result.summary["metric"] == "val_f1"
    assert result.best["best"] == max(t["best"] for t in trials)
