"""The training loop without Ray: models, learning, checkpoints and exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raytuner.config import validate_experiment
from raytuner.data import load_dataset
from raytuner.models import create_model, list_models
from raytuner.trial.checkpoint import CheckpointError, load_state, save_state
from raytuner.trial.loop import Trainer, fit

from conftest import tiny_experiment  # isort: skip


@pytest.fixture(scope="module")
def digits():
    exp = validate_experiment(tiny_experiment())
    return load_dataset(exp.data, exp.seed)


def _exp(**changes):
    return validate_experiment(tiny_experiment(**changes))


def test_digits_split_is_stratified_and_fixed_by_seed(digits) -> None:
    assert digits.input_shape == (1, 8, 8)
    assert len(digits.train_y) + len(digits.val_y) == 1797
    assert len(digits.val_y) == pytest.approx(0.2 * 1797, abs=1)
    counts = torch.bincount(digits.val_y, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # every class ~20% held out
    again = load_dataset(_exp().data, 0)
    assert torch.equal(again.val_x, digits.val_x)
    other = load_dataset(_exp().data, 1)
    assert not torch.equal(other.val_y, digits.val_y)


@pytest.mark.parametrize("name", list_models())
def test_every_model_forward_and_backward(name: str) -> None:
    model = create_model(name, (1, 8, 8), 10)
    x = torch.randn(4, 1, 8, 8)
    out = model(x)
    assert out.shape == (4, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_cnn_settings_change_the_network() -> None:
    small = create_model("cnn", (1, 8, 8), 10, depth=1, channels=4, hidden=0)
    big = create_model("cnn", (1, 8, 8), 10, depth=3, channels=32, batch_norm=True)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(big) > 10 * count(small)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in big.modules())


def test_training_learns_digits(digits) -> None:
    trainer = fit(_exp(**{"train.epochs": 4}), digits)
    history = trainer.history
    assert [m["epoch"] for m in history] == [1, 2, 3, 4]
    assert history[-1]["val_accuracy"] > 0.9
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    for key in ("train_loss", "val_loss", "val_accuracy", "lr", "epoch_time_s", "samples_per_s"):
        assert key in history[-1]


def test_resume_from_checkpoint_equals_uninterrupted_run(digits, tmp_path: Path) -> None:
    exp = _exp(**{"train.epochs": 4, "model.dropout": 0.3, "train.optimizer": "sgd",
                  # warmup then a schedule: its position must survive the checkpoint too
                  "train.lr_schedule": {"name": "cosine", "warmup_epochs": 1}})
    full = fit(exp, digits)

    partial = Trainer(exp, digits)
    partial.run_epoch()
    partial.run_epoch()
    save_state(partial.state_dict(), tmp_path / "ckpt")
    del partial
    torch.manual_seed(12345)  # disturb the global RNG: resume must not depend on it
    resumed = fit(exp, digits, state=load_state(tmp_path / "ckpt"))

    assert resumed.epoch == 4
    for (name, a), b in zip(full.model.state_dict().items(),
                            resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert resumed.history == pytest.approx(full.history) or all(
        r["val_loss"] == f["val_loss"] for r, f in zip(resumed.history, full.history, strict=True))
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]
    assert [h["lr"] for h in resumed.history] == [h["lr"] for h in full.history]
    assert full.history[0]["lr"] < full.history[1]["lr"] > full.history[3]["lr"]


def test_checkpoint_write_is_atomic_and_corruption_is_detected(digits, tmp_path: Path) -> None:
    trainer = Trainer(_exp(), digits)
    path = save_state(trainer.state_dict(), tmp_path)
    # no temp file left; the sha256 next to state.pt catches corruption torch.load cannot
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pt", "state.pt.sha256"]
    state = load_state(tmp_path)
    assert state["epoch"] == 0 and state["config"]["name"] == "tiny"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_state(tmp_path)
    with pytest.raises(CheckpointError, match="no state.pt"):
        load_state(tmp_path / "missing")


def test_checkpoint_refuses_arbitrary_pickles(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": 1, "x": Evil()}, tmp_path / "state.pt")
    with pytest.raises(CheckpointError):
        load_state(tmp_path)


def test_a_last_batch_of_one_is_folded_into_the_previous_one(digits) -> None:
    from raytuner.trial.schedules import batch_bounds

    assert batch_bounds(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert batch_bounds(9, 3) == [(0, 3), (3, 6), (6, 9)]
    n = len(digits.train_y)
    # batch norm in training mode raises on a batch of one example; this must train
    # (TINY's space searches model.channels, which the MLP does not have: searched nothing)
    exp = _exp(**{"train.epochs": 1, "train.batch_size": n - 1, "search.space": {},
                  "model": {"name": "mlp", "batch_norm": True}})
    assert fit(exp, digits).epoch == 1
