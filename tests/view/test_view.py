"""The live view, the event lines and the end-of-run summary, from plain data (no Ray): they
fit 80 columns, use the one status vocabulary and label what they show."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import tiny_experiment
from rich.console import Console

from raytuner.after.summary import summary_table
from raytuner.config import validate_experiment
from raytuner.runs.usercode import cluster_runtime_env, user_module_names
from raytuner.trial.status import STATUSES
from raytuner.view import events
from raytuner.view.final import final_lines
from raytuner.view.render import render_view
from raytuner.view.state import RunView, TrialRow

LONG_PARAMS = {"train.lr": 0.0031234, "train.batch_size": 128, "model.channels": 64,
               "model.depth": 3, "model.dropout": 0.3829, "train.optimizer": "sgd",
               "train.momentum": 0.9123}


def _view() -> RunView:
    view = RunView(name="digits", metric="val_accuracy", mode="max",
                   run_dir="/a/very/long/path/to/the/storage/of/runs/digits-with-a-long-name",
                   planned_trials=16, planned_epochs=63.0, max_planned_epochs=192.0,
                   started_at=1000.0)
    statuses = ["running"] * 10 + ["completed", "stopped", "errored", "diverged"]
    for i, status in enumerate(statuses):
        view.trials[f"trial{i:03d}"] = TrialRow(
            f"trial{i:03d}", status=status, epoch=1 + i % 12, max_epochs=12,
            value=0.5 + i / 100, best=0.6 + i / 100, best_epoch=1 + i % 12,
            params=LONG_PARAMS)
    return view


def _draw(view: RunView) -> str:
    out = io.StringIO()
    Console(file=out, width=80, force_terminal=False, color_system=None).print(
        render_view(view))
    return out.getvalue()


def test_live_view_fits_80_columns_and_counts_every_status() -> None:
    text = _draw(_view())
    assert all(len(line) <= 80 for line in text.splitlines())
    counts = text.splitlines()[4]
    # pending: the 2 trials the search has not created yet
    assert counts.split() == ["2", "pending", "10", "running", "1", "completed", "1",
                              "stopped", "1", "errored", "1", "diverged"]
    assert [w for w in counts.split() if not w.isdigit()] == list(STATUSES)
    assert "best: trial013 val_accuracy 0.7300 at epoch 2" in text
    assert "+2 more" in text  # 10 running trials, 8 rows
    assert "4/16" in text  # trials ended of those planned


def test_view_estimates_time_left_from_this_sessions_rate() -> None:
    view = _view()
    for row in view.trials.values():
        row.epoch = 1
    done = view.epochs_done()  # one epoch a second
    assert view.seconds_left(now=1000.0 + done) == pytest.approx(63.0 - done)
    view.epochs_at_start = done  # a resumed run that trained nothing yet: no estimate
    assert view.seconds_left(now=1100.0) is None
    view.finished_s = 50.0
    assert "finished in 0:50" in _draw(view)


def test_event_lines_name_what_happened() -> None:
    view = _view()
    rows = view.trials
    assert "stopped at epoch 12/12: val_accuracy 0.6100" in events.trial_ended(
        view, rows["trial011"])
    errored = rows["trial012"]
    errored.error_file = "/runs/digits/trial_x/error.txt"
    assert events.trial_ended(view, errored).endswith(
        "errored at epoch 1: traceback in /runs/digits/trial_x/error.txt")
    assert "started: lr=0.00312 batch_size=128 channels=64" in events.trial_started(
        view, rows["trial000"])
    assert "\x1b" not in events.end_line(view)


def _summary() -> dict:
    trial = {"trial_id": "abc", "status": "completed", "epochs": 12, "max_epochs": 12,
             "best": 0.9972, "best_epoch": 9, "config": LONG_PARAMS,
             "metrics": {"epoch": 12, "val_accuracy": 0.9944, "val_loss": 0.03},
             "best_metrics": {"epoch": 9, "val_accuracy": 0.9972, "val_loss": 0.02},
             "checkpoint": "/runs/digits/trial_abc/checkpoint_000008"}
    return {"metric": "val_accuracy", "mode": "max", "num_trials": 1, "wall_time_s": 40.0,
            "status_counts": {"completed": 1}, "best": trial, "trials": [trial]}


def test_end_of_run_labels_best_and_last_epoch_and_names_next_commands() -> None:
    summary = _summary()
    table = summary_table(summary)
    assert all(len(line.rstrip()) <= 80 for line in table.splitlines())
    lines = final_lines(summary, table, [], "runs/digits")
    assert "  best epoch (9): val_accuracy=0.9972, val_loss=0.02" in lines
    assert "  last epoch (12): val_accuracy=0.9944, val_loss=0.03" in lines
    assert lines[-3:] == ["  raytuner tensorboard runs/digits", "  raytuner report runs/digits",
                          "  raytuner export runs/digits --out runs/digits/export"]


def test_user_modules_in_the_current_folder_travel_to_a_cluster(tmp_path: Path,
                                                                monkeypatch) -> None:
    (tmp_path / "mymodels.py").write_text("def net(shape, classes, hidden=8):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    exp = validate_experiment(tiny_experiment(**{
        "model": {"name": "mymodels:net"}, "search.space": {
            "model.hidden": {"choice": [4, 8]}}}))
    assert user_module_names(exp) == ["mymodels"]
    assert cluster_runtime_env(exp) == {"py_modules": [str(tmp_path / "mymodels.py")]}
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}")  # `ray job submit`: working_dir
    assert cluster_runtime_env(exp) is None
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # a module outside the current folder stays
    assert cluster_runtime_env(exp) is None
