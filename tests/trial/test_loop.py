"""The training loop without Ray: models, learning, checkpoints and exact resume."""

from __future__ import annotations

import subprocess
import sys
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
    # Every recorded value is bit-identical, epoch by epoch and key by key; only the timings
    # (how long an epoch took on this machine) are not part of the training state.
    timings = {"epoch_time_s", "samples_per_s"}
    assert len(resumed.history) == len(full.history) == 4
    for epoch, (r, f) in enumerate(zip(resumed.history, full.history, strict=True), start=1):
        assert set(r) == set(f) and timings <= set(f), epoch
        for key in sorted(set(f) - timings):
            assert r[key] == f[key], (epoch, key, r[key], f[key])
    assert full.history[0]["lr"] < full.history[1]["lr"] > full.history[3]["lr"]


def test_checkpoint_write_leaves_no_temp_file_and_corruption_is_detected(
        digits, tmp_path: Path) -> None:
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


# Run in a child process that SIGKILLs itself at a chosen point of save_state: during the
# write of the temporary file, at its fsync, or at the n-th os.replace. The kill is real; only
# where it lands is chosen, so every point of the write sequence is covered, not a lucky one.
_DYING_WRITER = r"""
import os, signal, sys
import torch
from raytuner.trial.checkpoint import save_state

folder, point = sys.argv[1], sys.argv[2]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if point.startswith("replace"):
    nth, calls, real_replace = int(point[len("replace"):]), [0], os.replace
    def replace(src, dst):
        calls[0] += 1
        if calls[0] == nth:
            die()
        real_replace(src, dst)
    os.replace = replace
elif point == "fsync":
    os.fsync = lambda fd: die()
elif point == "mid-write":
    real_fdopen = os.fdopen
    class Dying:
        def __init__(self, handle):
            self.handle, self.written = handle, 0
        def write(self, data):
            if self.written > 4096:
                self.handle.flush()
                die()
            self.written += len(data)
            return self.handle.write(data)
        def __getattr__(self, name):
            return getattr(self.handle, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)
    os.fdopen = lambda fd, *args, **kwargs: Dying(real_fdopen(fd, *args, **kwargs))
save_state({"epoch": 2, "weights": torch.full((50_000,), 2.0)}, folder)
print("saved")
"""


@pytest.mark.parametrize("point, survivor, partial_left", [
    ("mid-write", 1, True), ("fsync", 1, False), ("replace1", 1, False),
    ("replace2", 1, False), ("replace3", 2, False)])
def test_checkpoint_writer_killed_anywhere_leaves_a_loadable_checkpoint(
        tmp_path: Path, point: str, survivor: int, partial_left: bool) -> None:
    import signal
    import subprocess
    import sys

    save_state({"epoch": 1, "weights": torch.full((50_000,), 1.0)}, tmp_path)
    child = subprocess.run([sys.executable, "-c", _DYING_WRITER, str(tmp_path), point],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr  # it died, it did not finish
    assert "saved" not in child.stdout
    state = load_state(tmp_path)  # never "corrupt": state.pt is whole and its digest listed
    assert state["epoch"] == survivor
    assert torch.equal(state["weights"], torch.full((50_000,), float(survivor)))
    # Killed mid-write, a shorter temporary file is left (so the kill landed mid-write), and
    # nothing reads it; killed later, any temporary state file left is whole.
    whole = (tmp_path / "state.pt").stat().st_size
    partial = [p.name for p in tmp_path.glob(".state.pt.*.tmp")
               if not p.name.startswith(".state.pt.sha256") and p.stat().st_size < whole]
    assert bool(partial) == partial_left, partial
    save_state({"epoch": 3}, tmp_path)  # the next save works over whatever was left
    assert load_state(tmp_path)["epoch"] == 3


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


def test_a_trial_worker_imports_no_scikit_learn() -> None:
    # scikit-learn (with scipy) costs a second of every trial process's start; a trial that
    # uses none of its metrics gets the driver's loaded data and must not import it.
    code = ("import sys, raytuner.trial.trainable, raytuner.trial.loop; "
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_checkpoints_every_n_epochs_plus_the_best_and_the_last(digits) -> None:
    from raytuner.trial.trainable import checkpoint_due

    exp = validate_experiment(tiny_experiment(**{"train.epochs": 7, "checkpoint.every": 3}))
    trainer = Trainer(exp, digits)
    due = {}
    for _ in trainer.epochs():
        # accuracy falls after epoch 1 and rises to a new best at epoch 5
        trainer.history[-1]["val_accuracy"] = {1: 0.9, 5: 0.95}.get(trainer.epoch, 0.5)
        due[trainer.epoch] = checkpoint_due(exp, trainer)
    assert due == {1: True, 2: False, 3: True, 4: False, 5: True, 6: True, 7: True}
    every = validate_experiment(tiny_experiment(**{"train.epochs": 3}))
    trainer = Trainer(every, digits)
    assert all(checkpoint_due(every, trainer) for _ in trainer.epochs())
