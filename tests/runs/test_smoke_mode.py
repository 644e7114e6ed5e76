"""Smoke mode, and every shipped experiment file: it validates, and it runs in smoke mode
(two trials, one epoch, a small subset; synthetic stand-in data when its set is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO
from dataformats import write_mnist

import raytuner
from raytuner.config import load_experiment

EXPERIMENTS = sorted((REPO / "experiments").glob("*.yaml"))


def test_the_shipped_experiments_are_all_there() -> None:
    assert {p.stem for p in EXPERIMENTS} >= {"digits", "mnist_cnn", "fashion_mnist_cnn",
                                             "cifar10_resnet", "imagefolder_example"}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_file_validates(path: Path) -> None:
    exp = load_experiment(path)
    assert exp.name == path.stem


def test_smoke_version_keeps_the_search_but_cuts_the_budget(tmp_path: Path, monkeypatch
                                                            ) -> None:
    monkeypatch.setenv("RAYTUNER_DATA", str(tmp_path / "nodata"))
    lines: list[str] = []
    exp = load_experiment(REPO / "experiments" / "cifar10_resnet.yaml",
                          ["search.space.train.epochs={choice: [5, 10]}",
                           "search.space.train.batch_size={grid: [128, 256]}",
                           "search.algorithm=random", "search.points_to_evaluate=[]"])
    smoke = raytuner.smoke_experiment(exp, say=lines.append)
    assert smoke.name == "cifar10_resnet-smoke"
    assert smoke.train.epochs == 1 and smoke.search.num_samples == 2
    assert "train.epochs" not in smoke.search.space  # it would undo the one-epoch limit
    assert smoke.search.space["train.batch_size"] == {"choice": [128, 256]}  # grid: 2+ trials
    assert smoke.search.space["model.arch"] == exp.search.space["model.arch"]
    assert smoke.data.subset == 64 and smoke.data.val_subset == 32 and smoke.data.synthetic
    assert smoke.resources.cpu == 1
    text = "\n".join(lines)
    assert "synthetic stand-in" in text and str(tmp_path / "nodata" / "cifar-10-batches-py") in text
    if exp.resources.gpu > 0:
        import torch

        assert smoke.resources.gpu == (exp.resources.gpu if torch.cuda.is_available() else 0)


def _check_smoke_run(result, *, synthetic: bool, epochs: int = 1) -> None:
    summary = result.summary
    assert result.run_dir.name.endswith("-smoke")
    assert summary["num_trials"] == 2
    assert [t["status"] for t in summary["trials"]] == ["completed", "completed"]
    assert all(t["epochs"] == epochs for t in summary["trials"])
    assert summary["best"] is not None
    saved = yaml.safe_load((result.run_dir / "experiment.yaml").read_text())
    assert saved["data"]["synthetic"] is synthetic
    assert saved["data"]["subset"] <= 64 and saved["train"]["epochs"] == epochs


@pytest.mark.slow
@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_runs_in_smoke_mode(path: Path, ray_session, tmp_path: Path, monkeypatch,
                                       capsys) -> None:
    # The big sets are absent (synthetic stand-ins), except MNIST, whose files are written in
    # the real format so one run shows that smoke mode uses real files when they are there.
    monkeypatch.setenv("RAYTUNER_DATA", str(tmp_path / "data"))
    exp = load_experiment(path)
    real = exp.data.name in ("digits", "mnist")
    if exp.data.name == "mnist":
        write_mnist(tmp_path / "data", per_class=20)
    result = raytuner.run(exp, storage=tmp_path / "runs", smoke=True)
    # pbt/pb2 need two epochs to change a trial between them
    epochs = 2 if exp.search.scheduler.name in ("pbt", "pb2") else 1
    _check_smoke_run(result, synthetic=not real, epochs=epochs)
    out = capsys.readouterr().out
    assert ("synthetic stand-in" in out) is not real
    assert "2 trials, 1 epoch" in out
