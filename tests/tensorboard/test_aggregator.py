"""The aggregated TensorBoard view, without Ray: layout, writing, HParams, dedup on reopen."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from tb_helpers import all_series, experiment_config, load, scalars, sessions

from raytuner.search.space import parse_space
from raytuner.tensorboard import layout
from raytuner.tensorboard.aggregator import Aggregator
from raytuner.trial.status import trial_status

VAL_ACCURACY = layout.metric_tag("val_accuracy")

SPACE = parse_space({
    "train.lr": {"loguniform": [1.0e-4, 1.0e-1]},
    "model.depth": {"int": [1, 3]},
    "train.optimizer": {"choice": [
        "adam", {"value": "sgd", "space": {"train.momentum": {"uniform": [0.8, 0.99]}}}]},
})
MODES = {"val_accuracy": "max", "val_loss": "min", "train_loss": "min"}


def make(logdir: Path, t0: float = 1000.0) -> Aggregator:
    return Aggregator(logdir, metric="val_accuracy", mode="max", space=SPACE, metric_modes=MODES,
                      known_metrics=["train_loss", "val_loss", "val_accuracy", "lr", "epoch"],
                      start_time=t0)


def result(epoch: int, acc: float, **extra) -> dict:
    return {"epoch": epoch, "val_accuracy": acc, "val_loss": 1.0 - acc, "train_loss": 2.0 - acc,
            "lr": 0.01, "training_iteration": epoch, "time_total_s": 1.5 * epoch,
            "config": {"train.lr": 0.01}, "hostname": "h", **extra}


def test_metric_tags_are_readable() -> None:
    assert layout.metric_tag("val_accuracy") == f"{layout.VAL_GROUP}/accuracy"
    assert layout.metric_tag("train_loss") == "train/loss"
    assert layout.metric_tag("lr") == "lr"
    assert layout.metric_tag("samples_per_s") == "perf/samples_per_s"
    assert not layout.is_metric("time_total_s", 1.0) and not layout.is_metric("epoch", 1)
    assert not layout.is_metric("hostname", "h") and layout.is_metric("grad_norm", 0.5)


def test_run_name_has_trial_id_and_key_hyperparameters() -> None:
    name = layout.run_name("ab12_00003", {"train.lr": 0.0031234, "model.depth": 2,
                                          "train.optimizer": "sgd", "train.momentum": 0.9},
                           SPACE)
    assert name == "trials/ab12_00003,lr=0.00312,depth=2,optimizer=sgd"


def test_trial_status_words() -> None:
    assert trial_status("TERMINATED", {"epoch": 5}, 5) == "completed"
    assert trial_status("TERMINATED", {"epoch": 2}, 5) == "stopped"
    assert trial_status("ERROR", {"epoch": 2}, 5) == "errored"
    assert trial_status("TERMINATED", {"epoch": 2, "diverged": 1.0}, 5) == "diverged"
    assert trial_status("RUNNING", {"epoch": 2}, 5) == "running"


def test_aggregator_writes_curves_sessions_and_statuses(tmp_path: Path) -> None:
    agg = make(tmp_path)
    trials = {
        "t1": ({"train.lr": 0.01, "model.depth": 2, "train.optimizer": "adam"}, "completed", 3),
        "t2": ({"train.lr": 0.001, "model.depth": 1, "train.optimizer": "sgd",
                "train.momentum": 0.9}, "stopped", 1),
        "t3": ({"train.lr": 0.09, "model.depth": 3, "train.optimizer": "adam"}, "diverged", 2),
        "t4": ({"train.lr": 0.02, "model.depth": 1, "train.optimizer": "adam"}, "errored", 1),
    }
    wall = 1000.0
    for trial_id, (params, _, _) in trials.items():
        agg.trial_started(trial_id, params, wall)
    for epoch in (1, 2, 3):
        for trial_id, (params, status, epochs) in trials.items():
            if epoch <= epochs:
                wall += 0.7
                extra = {"diverged": 1.0, "val_loss": math.nan} if (
                    status == "diverged" and epoch == epochs) else {}
                acc = 0.1 * epoch + 0.01 * int(trial_id[1])
                agg.trial_result(trial_id, params, result(epoch, acc, **extra), wall)
    for trial_id, (params, status, _) in trials.items():
        agg.trial_ended(trial_id, params, status, wall, final=status != "errored")
    agg.close(wall + 1)

    mux = load(tmp_path)
    found = sessions(mux)
    assert set(found) == set(trials)  # one HParams session per trial
    assert all(s["ended"] for s in found.values())
    assert found["t2"]["hparams"]["train.momentum"] == pytest.approx(0.9)
    assert found["t1"]["hparams"]["train.optimizer"] == "adam"
    for trial_id, (_, status, epochs) in trials.items():
        run = found[trial_id]["run"]
        assert run.startswith(f"trials/{trial_id},lr=")
        assert scalars(mux, run, layout.STATUS_TAG)[-1][1] == layout.STATUS_CODES[status]
        assert [s for s, _ in scalars(mux, run, VAL_ACCURACY)] == list(range(1, epochs + 1))
        assert scalars(mux, run, layout.EPOCHS_TAG)[-1][1] == epochs
    assert scalars(mux, found["t2"]["run"], layout.STOPPED_AT_TAG) == [(1, 1.0)]
    best = scalars(mux, found["t1"]["run"], "best/val_loss")
    assert [v for _, v in best] == sorted((v for _, v in best), reverse=True)

    config = experiment_config(mux)
    domains = {h.name: h for h in config.hparam_infos}
    assert domains["train.lr"].domain_interval.min_value == pytest.approx(1e-4)
    assert domains["model.depth"].domain_interval.max_value == 3
    assert list(domains["train.optimizer"].domain_discrete) == ["adam", "sgd"]
    assert "train.momentum" in domains
    tags = [m.name.tag for m in config.metric_infos]
    assert tags[:2] == ["best/val_accuracy", layout.metric_tag("val_accuracy")]
    assert {"train/loss", "lr", layout.STATUS_TAG, layout.EPOCHS_TAG} <= set(tags)

    curve = scalars(mux, "experiment", layout.search_tags("val_accuracy")[0])
    assert [s for s, _ in curve] == list(range(1, 8))  # 3 + 1 + 2 + 1 epochs
    assert [v for _, v in curve] == sorted(v for _, v in curve)
    timeline = scalars(mux, "experiment", "trials/running")
    assert timeline[0] == (0, 0.0) and timeline[-1][1] == 0.0
    assert scalars(mux, "experiment", "trials/diverged")[-1][1] == 1.0
    for series, steps in all_series(mux).items():
        assert len(steps) == len(set(steps)), series


def test_reopened_folder_continues_without_duplicate_steps(tmp_path: Path) -> None:
    params = {"train.lr": 0.01, "model.depth": 2, "train.optimizer": "adam"}
    first = make(tmp_path)
    for epoch in (1, 2, 3):
        first.trial_result("t1", params, result(epoch, 0.2 * epoch), 1000.0 + epoch)
    first.trial_result("t2", params, result(1, 0.05), 1003.5)
    first.flush()  # a driver that dies here never closes its files

    second = make(tmp_path, t0=5000.0)  # a resumed driver: replays epochs 2 and 3 of t1
    assert second.cum_epochs == 4 and second.best == pytest.approx(0.6)
    assert second.t0 == pytest.approx(1000.0)
    assert not second.trial_result("t1", params, result(2, 0.99), 1010.0)
    assert not second.trial_result("t1", params, result(3, 0.99), 1011.0)
    assert second.trial_result("t1", params, result(4, 0.7), 1012.0)
    second.trial_ended("t1", params, "completed", 1012.5)
    second.close(1013.0)

    mux = load(tmp_path)
    run = sessions(mux)["t1"]["run"]
    assert scalars(mux, run, layout.metric_tag("val_accuracy")) == [(1, pytest.approx(0.2)),
                                                 (2, pytest.approx(0.4)),
                                                 (3, pytest.approx(0.6)),
                                                 (4, pytest.approx(0.7))]
    assert len(sessions(mux)) == 2
    assert [s for s, _ in scalars(mux, "experiment", layout.search_tags("val_accuracy")[0])] \
        == [1, 2, 3, 4, 5]
    for series, steps in all_series(mux).items():
        assert len(steps) == len(set(steps)), series


def test_event_files_sort_in_the_order_they_were_written(tmp_path: Path) -> None:
    """Twelve writers in one process (a notebook calling run() again and again), after a
    file named the way raytuner 0.1.0 named them: TensorBoard reads all, in writing order."""
    from raytuner.tensorboard.events import EventWriter

    old = EventWriter(tmp_path)  # the 0.1.0 name: seconds, host, pid, unpadded counter
    old.add_scalars({"x": 0.0}, step=0, wall_time=1.0)
    old.close()
    old_name = tmp_path / f"events.out.tfevents.{int(time.time()) - 1:010d}.h.1.10.raytuner"
    old.path.rename(old_name)
    names = []
    for step in range(1, 13):
        writer = EventWriter(tmp_path)
        writer.add_scalars({"x": float(step)}, step=step, wall_time=1.0 + step)
        writer.close()
        names.append(writer.path.name)
    assert sorted(names) == names  # the 10th file does not sort before the 2nd
    assert sorted(p.name for p in tmp_path.iterdir())[0] == old_name.name
    assert [s for s, _ in scalars(load(tmp_path), ".", "x")] == list(range(13))


def test_tensorboard_command_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    from conftest import run_cli

    missing = run_cli("tensorboard", str(tmp_path / "nope"), timeout=120)
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "run folder not found" in missing.stderr
    not_a_run = run_cli("tensorboard", str(tmp_path), timeout=120)
    assert not_a_run.returncode == 2 and "experiment.yaml" in not_a_run.stderr
    assert not (tmp_path / "tensorboard").exists()  # nothing written


def test_hparams_domains_hold_one_type(tmp_path: Path) -> None:
    space = parse_space({"train.batch_size": {"choice": [32, 64.5]},
                         "model.batch_norm": {"choice": [True, False]},
                         "model.pool": {"choice": [1, "avg"]},
                         "model.depth": {"int": [1, 4]}})
    domains = layout.domains(space)
    assert domains["train.batch_size"] == ("discrete", [32.0, 64.5])
    assert domains["model.batch_norm"] == ("discrete", [True, False])
    assert domains["model.pool"] == ("discrete", ["1", "avg"])
    assert domains["model.depth"] == ("int", 1.0, 4.0)
    agg = Aggregator(tmp_path, metric="val_loss", mode="min", space=space, metric_modes=MODES,
                     known_metrics=["val_loss"], start_time=0.0)
    params = {"train.batch_size": 32, "model.batch_norm": True, "model.pool": 1,
              "model.depth": 2}
    agg.trial_result("t1", params, result(1, 0.5), 1.0)
    agg.close(2.0)
    mux = load(tmp_path)
    assert sessions(mux)["t1"]["hparams"]["model.pool"] == "1"
    assert {h.name for h in experiment_config(mux).hparam_infos} == set(params)
