"""Reliability without Ray running: divergence detection in the real training loop, checkpoint
checksums, falling back from a corrupt checkpoint, and the problem report."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import pytest
from conftest import REPO, tiny_experiment

from raytuner.after.problems import problem_lines
from raytuner.config import validate_experiment
from raytuner.data import load_dataset
from raytuner.errors import ConfigError
from raytuner.runs.rundir import check_same_experiment
from raytuner.trial.checkpoint import CheckpointError, load_state, save_state
from raytuner.trial.divergence import (
    UNBOUNDED_WORST,
    Diverged,
    check_epoch,
    diverged_result,
    worst_value,
)
from raytuner.trial.loop import Trainer
from raytuner.trial.recovery import restore_trial_state

os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)


@pytest.fixture(scope="module")
def digits():
    return load_dataset(validate_experiment(tiny_experiment()).data, 0)


def _faulty(**model):
    return validate_experiment(tiny_experiment(**{
        "model": {"name": "tests.faulty:factory", "hidden": 16, **model},
        "search.space": {}, "train.epochs": 5, "train.batch_size": 256}))


@pytest.mark.parametrize("fault, epoch, reason", [
    ("nan", 2, "training loss became nan during epoch 2"),
    ("explode", 3, "x its best"),
])
def test_training_loop_stops_a_diverging_trial_at_once(digits, fault, epoch, reason) -> None:
    trainer = Trainer(_faulty(fault=fault, at_epoch=epoch), digits)
    with pytest.raises(Diverged) as info:
        list(trainer.epochs())
    assert reason in info.value.reason
    assert info.value.metrics["epoch"] == epoch
    result = diverged_result(info.value, "val_accuracy", "max")
    assert result["diverged"] == 1.0 and result["val_accuracy"] == 0.0
    assert result["epoch"] == epoch


def test_divergence_factor_null_keeps_an_exploding_loss_running(digits) -> None:
    # Logits x1000 from epoch 3: the loss jumps far past 10x its best yet stays finite, so the
    # factor alone decides. With the default factor (10) the same trial diverges at epoch 3.
    exp = _faulty(fault="explode", at_epoch=3, explode_scale=1e3)
    with pytest.raises(Diverged, match="x its best"):
        list(Trainer(exp, digits).epochs())
    exp.train.divergence_factor = None
    metrics = list(Trainer(exp, digits).epochs())
    losses = [m["train_loss"] for m in metrics]
    assert [m["epoch"] for m in metrics] == [1, 2, 3, 4, 5]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[2] > 10 * min(losses[:2]), losses


def test_check_epoch_rules() -> None:
    history = [{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 0.1}]
    check_epoch({"epoch": 3, "train_loss": 1.5}, history, 10.0)  # 15x best, below epoch 1's
    check_epoch({"epoch": 3, "train_loss": 50.0}, history, None)  # factor off
    with pytest.raises(Diverged, match="more than 10 x its best 0.1"):
        check_epoch({"epoch": 3, "train_loss": 2.5}, history, 10.0)
    with pytest.raises(Diverged, match="val_loss is inf at epoch 3"):
        check_epoch({"epoch": 3, "train_loss": 0.1, "val_loss": math.inf}, history, None)
    check_epoch({"epoch": 1, "train_loss": 1e6}, [], 10.0)  # nothing to compare with yet


def test_worst_values_are_finite_and_worst() -> None:
    assert worst_value("val_accuracy", "max") == 0.0
    assert worst_value("val_accuracy", "min") == 1.0
    assert worst_value("val_loss", "min") == UNBOUNDED_WORST
    assert worst_value("samples_per_s", "max") == -UNBOUNDED_WORST


def test_divergence_factor_must_be_above_one() -> None:
    with pytest.raises(ConfigError, match="train.divergence_factor"):
        validate_experiment(tiny_experiment(**{"train.divergence_factor": 1.0}))
    exp = validate_experiment(tiny_experiment(**{"train.divergence_factor": None}))
    assert exp.train.divergence_factor is None


# ---------------------------------------------------------------------------------------------
# Checkpoints


def _trial_with_checkpoints(digits, folder: Path, epochs: int) -> Path:
    """A trial folder with one real checkpoint per epoch, named the way Ray names them."""
    trainer = Trainer(validate_experiment(tiny_experiment(**{"train.epochs": epochs})), digits)
    for index in range(epochs):
        trainer.run_epoch()
        save_state(trainer.state_dict(), folder / f"checkpoint_{index:06d}")
    return folder


def test_a_flipped_bit_is_caught_by_the_checksum(digits, tmp_path: Path) -> None:
    trial = _trial_with_checkpoints(digits, tmp_path, 1)
    state = trial / "checkpoint_000000" / "state.pt"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF  # torch.load alone would load this silently
    state.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 does not match"):
        load_state(state.parent)


def test_corrupt_checkpoint_falls_back_to_the_newest_valid_earlier_one(
        digits, tmp_path: Path, caplog) -> None:
    from ray import tune

    trial = _trial_with_checkpoints(digits, tmp_path / "trial_x", 4)
    # checkpoint 3 truncated, checkpoint 2 missing its state: resume must use checkpoint 1
    state3 = trial / "checkpoint_000003" / "state.pt"
    state3.write_bytes(state3.read_bytes()[:1000])
    (trial / "checkpoint_000002" / "state.pt").unlink()
    with caplog.at_level(logging.WARNING, logger="raytuner"):
        state = restore_trial_state(tune.Checkpoint(str(trial / "checkpoint_000003")))
    assert state["epoch"] == 2  # checkpoint_000001 holds epoch 2
    assert "resuming from the earlier checkpoint" in caplog.text
    assert str(trial / "checkpoint_000001") in caplog.text

    # Ray's checkpoint valid: used as is, even with newer folders around
    assert restore_trial_state(tune.Checkpoint(str(trial / "checkpoint_000000")))["epoch"] == 1


def test_no_valid_checkpoint_is_a_clear_error_not_a_fresh_start(digits, tmp_path: Path) -> None:
    from ray import tune

    trial = _trial_with_checkpoints(digits, tmp_path / "trial_y", 2)
    for index in range(2):
        state = trial / f"checkpoint_{index:06d}" / "state.pt"
        state.write_bytes(state.read_bytes()[:500])
    with pytest.raises(CheckpointError) as info:
        restore_trial_state(tune.Checkpoint(str(trial / "checkpoint_000001")))
    message = str(info.value)
    assert "no valid checkpoint left" in message
    assert "checkpoint_000000" in message and "checkpoint_000001" in message
    assert f"delete {trial}" in message


# ---------------------------------------------------------------------------------------------
# Reports and run folders


def test_problem_lines_name_error_files_and_diverged_trials() -> None:
    summary = {"trials": [
        {"trial_id": "a", "status": "completed", "epochs": 3, "config": {}},
        {"trial_id": "b", "status": "errored", "epochs": 1, "config": {},
         "error_file": "/runs/x/trial_b/error.txt", "path": "/runs/x/trial_b"},
        {"trial_id": "c", "status": "diverged", "epochs": 2, "config": {"train.lr": 0.5}},
    ]}
    text = "\n".join(problem_lines(summary))
    assert "1 errored trial(s)" in text and "b after 1 epoch(s): /runs/x/trial_b/error.txt" in text
    assert "1 diverged trial(s)" in text and "c at epoch 2: train.lr=0.5" in text
    assert problem_lines({"trials": [summary["trials"][0]]}) == []


def test_resume_accepts_the_same_experiment_only(tmp_path: Path) -> None:
    from raytuner.files import dump_yaml

    exp = validate_experiment(tiny_experiment())
    (tmp_path / "experiment.yaml").write_text(dump_yaml(exp.to_dict()))
    check_same_experiment(tmp_path, exp)
    changed = validate_experiment(tiny_experiment(**{
        "search.space.train.lr": {"loguniform": [1.0e-4, 1.0e-1]}}))
    with pytest.raises(ConfigError, match=r"search\.space\.train\.lr\.loguniform: differs"):
        check_same_experiment(tmp_path, changed)
