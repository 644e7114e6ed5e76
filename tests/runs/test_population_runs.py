"""Population-based training end to end with a real Ray: experiments/digits_pbt.yaml run through
the real `raytuner` command, exploits that continue the donor's state exactly, the lineage in
summary.json, `raytuner best`, TensorBoard's per-epoch settings and the report's schedule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import REPO, run_cli
from tb_helpers import load, scalars

from raytuner.after.lineage import schedule_lines
from raytuner.data import load_dataset
from raytuner.runs.folder import load_run_experiment
from raytuner.trial.checkpoint import load_state
from raytuner.trial.exploit import ORIGIN_KEY, resume_trainer
from raytuner.trial.loop import Trainer

pytestmark = pytest.mark.slow

PBT_FILE = REPO / "experiments" / "digits_pbt.yaml"
# Small and eager: every epoch the bottom half copies the top half, so exploits certainly happen.
SETS = ["train.epochs=5", "model.channels=8", "model.hidden=32",
        "search.scheduler.perturbation_interval=1", "search.scheduler.quantile_fraction=0.5"]


@pytest.fixture(scope="module")
def pbt_run(tmp_path_factory) -> dict[str, Any]:
    storage = tmp_path_factory.mktemp("pbt") / "runs"
    args = ["run", str(PBT_FILE), "--storage", str(storage)]
    for item in SETS:
        args += ["--set", item]
    result = run_cli(*args, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = storage / "digits_pbt"
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"run_dir": run_dir, "summary": summary, "stdout": result.stdout,
            "trials": {t["trial_id"]: t for t in summary["trials"]}}


def _states(trial_dir: Path) -> list[dict[str, Any]]:
    return [load_state(folder) for folder in sorted(trial_dir.glob("checkpoint_*"))]


def test_every_trial_records_its_lineage_and_exploits_happen(pbt_run) -> None:
    trials = pbt_run["trials"]
    assert len(trials) == 4 and all(t["status"] == "completed" for t in trials.values())
    assert all(isinstance(t["lineage"], list) for t in trials.values())
    entries = [e for t in trials.values() for e in t["lineage"]]
    assert entries, "no exploit in a run whose bottom half copies the top half every epoch"
    searched = set(load_run_experiment(pbt_run["run_dir"]).search.space)
    for trial_id, trial in trials.items():
        for entry in trial["lineage"]:
            assert set(entry) == {"epoch", "from_trial", "changes"}
            assert entry["from_trial"] in trials and 1 <= entry["epoch"] < 5
            assert set(entry["changes"]) <= searched
            assert all(old != new for old, new in entry["changes"].values())
        if trial["lineage"]:  # the last entry is the trial's own copy: it ends on those values
            for key, (_, new) in trial["lineage"][-1]["changes"].items():
                assert trial["config"][key] == new, (trial_id, key)


def test_an_exploited_trial_continues_exactly_from_the_donors_checkpoint(pbt_run) -> None:
    run_dir = pbt_run["run_dir"]
    exp = load_run_experiment(run_dir)
    data = load_dataset(exp.data, exp.seed)
    torch.set_num_threads(1)  # as the trial (resources.cpu: 1): bit-for-bit arithmetic
    exploited = [t for t in pbt_run["trials"].values() if t["lineage"]]
    assert exploited
    for trial in exploited:
        entry = trial["lineage"][-1]  # the copy this trial made (earlier ones: its ancestors')
        epoch, donor = entry["epoch"], entry["from_trial"]
        after = [s for s in _states(Path(trial["path"]))
                 if s[ORIGIN_KEY]["lineage"] == trial["lineage"]]
        first = min(after, key=lambda s: s["epoch"])
        assert first["epoch"] == epoch + 1  # the epoch counter went on from the donor's
        donor_states = [s for s in _states(run_dir / f"trial_{donor}")
                        if s["epoch"] == epoch and s["history"] == first["history"][:epoch]]
        assert len(donor_states) == 1, "the donor's checkpoint of that epoch is not unique"
        source = donor_states[0]
        # The copy, replayed in-process: the donor's state with this trial's settings, then
        # one epoch, must give this trial's checkpoint bit for bit.
        params = first[ORIGIN_KEY]["params"]
        # what Ray's run saved: the optimizer took this trial's settings, not the donor's
        group = first["optimizer"]["param_groups"][0]
        assert group["momentum"] == params["train.momentum"]
        assert group["weight_decay"] == params["train.weight_decay"]
        assert group["lr"] == params["train.lr"]  # constant schedule: lr is the setting
        assert first["config"]["model"]["dropout"] == params["model.dropout"]
        replay, lineage = resume_trainer(exp, params, source, trial["trial_id"],
                                         lambda e: Trainer(e, data))
        for name, tensor in source["model"].items():
            assert torch.equal(replay.model.state_dict()[name], tensor), name
        assert replay.epoch == epoch and lineage == trial["lineage"]
        replay.run_epoch()
        for name, tensor in first["model"].items():
            assert torch.equal(replay.model.state_dict()[name], tensor), name
        moments = replay.optimizer.state_dict()["state"]
        for index, values in first["optimizer"]["state"].items():
            for key, value in values.items():
                assert torch.equal(moments[index][key], value), (index, key)


def test_best_prints_the_best_trials_schedule(pbt_run) -> None:
    best = pbt_run["summary"]["best"]
    result = run_cli("best", str(pbt_run["run_dir"]))
    assert result.returncode == 0, result.stderr
    assert ("hyperparameter schedule" in result.stdout) == bool(best["lineage"])
    for line in schedule_lines(best):
        assert line in result.stdout.splitlines()
    as_json = json.loads(run_cli("best", str(pbt_run["run_dir"]), "--json").stdout)
    assert as_json["lineage"] == best["lineage"]


def test_tensorboard_has_each_trials_settings_per_epoch(pbt_run) -> None:
    multiplexer = load(pbt_run["run_dir"] / "tensorboard")
    runs = {run.split(",")[0].rsplit("/", 1)[-1]: run for run in multiplexer.Runs()
            if run.startswith("trials/")}
    for trial_id, trial in pbt_run["trials"].items():
        for key, value in trial["config"].items():
            curve = scalars(multiplexer, runs[trial_id], f"hparams/{key}")
            assert curve and curve[0][0] == 1, (trial_id, key)
            if not trial["lineage"]:  # never copied: the same value at every epoch
                assert [v for _, v in curve] == pytest.approx([float(value)] * len(curve))


def test_report_plots_the_winning_schedule(pbt_run) -> None:
    result = run_cli("report", str(pbt_run["run_dir"]), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = pbt_run["run_dir"] / "report"
    report = json.loads((folder / "report.json").read_text())
    best = pbt_run["summary"]["best"]
    assert report["schedule"] == schedule_lines(best)
    assert (folder / "schedule.png").is_file() == bool(best["lineage"])
