"""After the search (report, export, compress), before it (plan), warm starts and the
reproducibility record, all on ONE shared tiny real run (plus a second run for warm start)."""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, run_cli, tiny_experiment, write_yaml

import raytuner
from raytuner.after.history import read_history
from raytuner.after.loading import accuracy_of, load_trial
from raytuner.config import validate_experiment

pytestmark = pytest.mark.slow

# Ray workers import the user model `tests.faulty` by import path: they need the repo root.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)

SPACE = {
    "train.lr": {"loguniform": [1.0e-3, 2.0e-2]},
    "model.channels": {"choice": [4, 8]},
    "train.optimizer": {"choice": ["adam", {"value": "sgd", "space": {
        "train.momentum": {"uniform": [0.5, 0.95]}}}]},
}
SHARED = {"search.num_samples": 6, "search.space": SPACE,
          "compress": {"sparsities": [0.5], "quantize": ["dynamic", "static"],
                       "latency_runs": 2, "max_accuracy_drop": 0.02}}


@pytest.fixture(scope="module")
def shared_run(ray_session, tmp_path_factory):
    """The one tiny real run every test of this module reads: HyperOpt + ASHA over a space
    with a conditional branch, with a compress section (run after the search)."""
    exp = validate_experiment(tiny_experiment(**SHARED))
    storage = tmp_path_factory.mktemp("after") / "runs"
    result = raytuner.run(exp, storage=storage)
    return result


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The real ``raytuner`` command line app, in this process (saves a Python start)."""
    from raytuner.cli import main

    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _best_reported(run_dir: Path, trial_id: str, epoch: int) -> float:
    trial_path = next(p for p in run_dir.glob(f"trial_{trial_id}*") if p.is_dir())
    row = next(r for r in read_history(trial_path) if r["epoch"] == epoch)
    return row["val_accuracy"]


# ----------------------------------------------------------------------------------------
# Reproducibility record


def test_reproducibility_record_has_versions_seeds_git_and_hardware(shared_run) -> None:
    import ray

    record = json.loads((shared_run.run_dir / "reproducibility.json").read_text())
    assert record["experiment"]["file"] == "experiment.yaml"
    assert (shared_run.run_dir / record["experiment"]["file"]).is_file()
    assert record["seeds"]["experiment"] == 0
    versions = record["versions"]
    assert versions["raytuner"] == raytuner.__version__ and versions["ray"] == ray.__version__
    assert versions["torch"] == torch.__version__ and versions["python"].count(".") == 2
    assert record["hardware"]["cpu_count"] == os.cpu_count()
    assert record["hardware"]["ram_bytes"] > 0
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    assert [g["name"] for g in record["hardware"]["gpus"]] == gpus  # [] on a CPU machine
    # The tests run inside the project's git checkout: the record names its commit.
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert record["git"]["commit"] == head and len(head) == 40
    assert record["git"]["dirty"] is bool(dirty)


# ----------------------------------------------------------------------------------------
# report


def test_report_cli_writes_html_pngs_json_and_tensorboard_images(shared_run) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = shared_run.run_dir
    result = run_cli("report", str(run_dir), "--top", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "leaderboard:" in out and "hyperparameter importance" in out
    assert "reproducibility: seed 0" in out and f"torch {torch.__version__}" in out

    data = json.loads((run_dir / "report" / "report.json").read_text())
    summary = shared_run.summary
    assert len(data["leaderboard"]) == 4
    # by best value; a tie by the earlier best epoch, then the trial id
    ranked = sorted((t for t in summary["trials"] if t["best"] is not None),
                    key=lambda t: (-t["best"], t["best_epoch"], t["trial_id"]))
    assert [r["trial_id"] for r in data["leaderboard"]] == [t["trial_id"] for t in ranked[:4]]
    assert {"time_s", "epochs", "status", "config"} <= set(data["leaderboard"][0])

    ev = data["evaluation"]
    assert ev["trial_id"] == summary["best"]["trial_id"]
    # The evaluation loads the best checkpoint: its accuracy is the one the trial reported.
    assert ev["accuracy"] == pytest.approx(
        _best_reported(run_dir, ev["trial_id"], ev["epoch"]), abs=1e-6)
    matrix = ev["confusion_matrix"]
    assert sum(map(sum, matrix)) == ev["num_examples"] == 360
    assert sum(matrix[i][i] for i in range(10)) / 360 == pytest.approx(ev["accuracy"])
    assert 0 < ev["f1_macro"] <= 1 and 0.5 < ev["roc_auc_ovr"] <= 1
    # the best model's costs, measured where the report runs (the trials did not ask for them)
    cost = ev["costs"]
    assert cost["params"] > 0 and cost["model_bytes"] > cost["params"] * 4
    assert cost["flops"] > 0 and cost["latency_ms"] > 0 and cost["latency_device"] == "cpu"
    assert "its costs:" in out and "latency_ms (cpu)" in out
    assert not {"params", "latency_ms"} & set(ev["reported"])

    imp = data["importance"]
    assert imp["num_trials"] == 6
    names = {r["param"] for r in imp["params"]}
    assert names == {"train.lr", "model.channels", "train.optimizer", "train.momentum"}
    assert sum(r["share"] for r in imp["params"]) == pytest.approx(1.0)

    for name in ("best_so_far", "params", "learning_curves", "importance", "confusion_matrix"):
        png = run_dir / "report" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name

    events = EventAccumulator(str(run_dir / "tensorboard" / "report"))
    events.Reload()
    images = set(events.Tags()["images"])
    assert {"report/best_so_far", "report/params", "report/learning_curves",
            "report/importance", "report/confusion_matrix"} <= images
    image = events.Images("report/best_so_far")[-1]
    assert image.encoded_image_string[:4] == b"\x89PNG" and image.width > 100


def test_report_html_is_self_contained_and_renders_in_a_browser(shared_run) -> None:
    from selenium import webdriver

    from raytuner.after.report import build_report

    run_dir = shared_run.run_dir
    page = build_report(run_dir, tensorboard=False).html
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # nothing fetched from outside
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    profile = run_dir.parent / "chrome-profile"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(page.as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.naturalWidth, "
            "i.src.slice(0, 22)])")
        rows = driver.execute_script(
            "return document.querySelectorAll('#leaderboard tbody tr').length")
        headings = driver.execute_script(
            "return Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
    finally:
        driver.quit()
    assert len(images) == 5
    assert all(width > 100 and src == "data:image/png;base64," for _, width, src in images)
    assert rows == 6
    assert "Reproducibility" in headings and "Hyperparameter importance" in headings


def test_report_reads_a_run_that_is_still_running(ray_session, tmp_path: Path) -> None:
    """Both trials wait at the start of epoch 2 until the test opens a gate: the report is
    certainly built while the run is running, then once more after it ended."""
    from raytuner.after.report import build_report

    gate = tmp_path / "gate"
    exp = validate_experiment(tiny_experiment(**{
        "name": "live", "train.epochs": 2, "train.batch_size": 256,
        "model": {"name": "tests.faulty:factory", "hidden": 16, "fault": "gate",
                  "at_epoch": 2, "gate_file": str(gate)},
        "search.algorithm": "random", "search.num_samples": 2, "search.max_concurrent": 2,
        "search.scheduler": {"name": "fifo"},
        "search.space": {"train.lr": {"loguniform": [1.0e-3, 1.0e-2]}}}))
    run_dir = tmp_path / "runs" / "live"
    outcome: dict = {}

    def go() -> None:
        try:
            outcome["result"] = raytuner.run(exp, storage=tmp_path / "runs")
        except BaseException as exc:  # surfaced below
            outcome["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    try:
        deadline = time.monotonic() + 240
        while not (list(run_dir.glob("experiment_state-*.json")) and len([
                p for p in run_dir.glob("trial_*/result.json") if p.stat().st_size]) == 2):
            assert thread.is_alive(), f"the run ended before its gate opened: {outcome}"
            assert time.monotonic() < deadline, "no trial reported its first epoch"
            time.sleep(0.2)
        live = build_report(run_dir, tensorboard=False)
        assert thread.is_alive()  # both trials still wait at the gate
    finally:
        gate.write_text("open\n")
        thread.join(timeout=300)
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    assert live.data["num_trials"] == 2 and live.html.is_file()
    assert [row["epochs"] for row in live.data["leaderboard"]] == [1, 1]
    assert live.data["status_counts"] == {"running": 2}, live.data["status_counts"]
    after = build_report(run_dir, tensorboard=False)
    assert [row["epochs"] for row in after.data["leaderboard"]] == [2, 2]
    assert after.data["status_counts"] == {"completed": 2}


def test_report_works_without_summary_json_and_after_a_warm_started_resume(
        shared_run, tmp_path: Path, caplog) -> None:
    from raytuner.after.report import build_report
    from raytuner.search.searchers.hyperopt import TID_OFFSET

    # A run folder with no summary.json (a crashed or running run) is read as it is.
    summary_file = shared_run.run_dir / "summary.json"
    saved = summary_file.read_text()
    summary_file.unlink()
    try:
        report = build_report(shared_run.run_dir, tensorboard=False)
        assert report.data["num_trials"] == 6
    finally:
        summary_file.write_text(saved)

    # A second run, warm-started from the shared one with a changed space (channels 4 gone,
    # 16 new), FIFO: reported on while it runs, then resumed, then reported on again.
    space = {**SPACE, "model.channels": {"choice": [8, 16]}}
    exp = validate_experiment(tiny_experiment(**{
        "name": "warm", "search.num_samples": 3, "search.space": space,
        "search.scheduler": {"name": "fifo"}, "search.n_initial_points": 1,
        "search.warm_start": str(shared_run.run_dir)}))
    storage = tmp_path / "runs"
    run_dir = storage / "warm"
    outcome: dict = {}

    def go() -> None:
        try:
            outcome["result"] = raytuner.run(exp, storage=storage)
        except BaseException as exc:  # surfaced below
            outcome["error"] = exc

    caplog.set_level(logging.WARNING, logger="raytuner")
    thread = threading.Thread(target=go)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")

    kept = [t for t in shared_run.summary["trials"] if t["config"]["model.channels"] == 8]
    dropped = len(shared_run.summary["trials"]) - len(kept)
    notes = [r.getMessage() for r in caplog.records if "warm_start" in r.getMessage()]
    assert sum("dropped trial" in n and "model.channels=4" in n for n in notes) == dropped
    assert any(f"seeded the searcher with {len(kept)} of 6" in n for n in notes), notes
    # The searcher's HyperOpt trials hold the kept results as finished trials.
    state_file = next(run_dir.glob("searcher-state-*.pkl"))
    state = pickle.loads(state_file.read_bytes())
    trials = state["_hpopt_trials"]  # HyperOptSearch.save pickles its __dict__
    seeded = [t for t in trials.trials if t["tid"] >= TID_OFFSET]
    assert sorted(-t["result"]["loss"] for t in seeded) == pytest.approx(
        sorted(t["best"] for t in kept))

    resumed = raytuner.resume(run_dir)
    assert len(resumed.summary["trials"]) == 3
    record = json.loads((run_dir / "reproducibility.json").read_text())
    assert len(record["resumes"]) == 1
    after = build_report(run_dir, tensorboard=False)
    assert after.data["num_trials"] == 3 and after.data["evaluation"] is not None

    # FIFO: the plan's epoch count is exact.
    from raytuner.search.plan import make_plan

    plan = make_plan(exp, epoch_seconds=1.0, cpus=2, gpus=0)
    spent = sum(t["epochs"] for t in resumed.summary["trials"])
    assert plan.epochs.lower == plan.epochs.expected == plan.epochs.upper == spent == 9


# ----------------------------------------------------------------------------------------
# export and load_model


def test_export_reproduces_the_trials_validation_accuracy(shared_run, tmp_path: Path,
                                                          capsys) -> None:
    out = tmp_path / "export"
    code, stdout, err = cli(capsys, "export", str(shared_run.run_dir), "--out", str(out))
    assert code == 0, err
    assert "exported trial" in stdout
    meta = json.loads((out / "export.json").read_text())
    assert meta["trial_id"] == shared_run.summary["best"]["trial_id"]
    torch.load(out / "weights.pt", weights_only=True)  # plain tensors only

    model = raytuner.load_model(out)
    assert not model.training
    from raytuner.after.export import load_export

    exported = load_export(out)
    data = exported.load_data()
    reported = _best_reported(shared_run.run_dir, meta["trial_id"], meta["epoch"])
    assert accuracy_of(model, data) == reported  # exactly what the trial reported
    assert meta["reported"]["val_accuracy"] == reported
    program = torch.export.load(str(out / "model.pt2")).module()
    assert accuracy_of(program, data) == pytest.approx(reported, abs=1 / 360 + 1e-9)
    assert exported.predict(data.val_x[:7]).shape == (7,)


def test_export_of_a_chosen_trial_and_bad_input(shared_run, tmp_path: Path, capsys) -> None:
    from raytuner.after.export import export_model, load_export

    worst = min((t for t in shared_run.summary["trials"] if t["checkpoint"]),
                key=lambda t: t["best"])
    meta = export_model(shared_run.run_dir, tmp_path / "worst", worst["trial_id"])
    model = raytuner.load_model(tmp_path / "worst")
    data = load_export(tmp_path / "worst").load_data()
    assert accuracy_of(model, data) == _best_reported(shared_run.run_dir, worst["trial_id"],
                                                      meta["epoch"])

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    code, _, err = cli(capsys, "export", str(shared_run.run_dir), "--out", str(busy))
    assert code == 2 and err.count("\n") == 1 and "not empty" in err
    assert sorted(p.name for p in busy.iterdir()) == ["keep.txt"]
    code, _, err = cli(capsys, "compress", str(shared_run.run_dir), "--out", str(busy))
    assert code == 2 and "not empty" in err
    assert sorted(p.name for p in busy.iterdir()) == ["keep.txt"]
    code, _, err = cli(capsys, "export", str(shared_run.run_dir), "--trial", "nope", "--out",
                       str(tmp_path / "x"))
    assert code == 2 and "no trial 'nope'" in err
    assert not (tmp_path / "x").exists()
    code, _, err = cli(capsys, "report", str(tmp_path))
    assert code == 2 and "not a raytuner run folder" in err


# ----------------------------------------------------------------------------------------
# compress


def test_compress_section_ran_after_the_search(shared_run) -> None:
    from raytuner.after.compress import load_compressed

    folder = shared_run.run_dir / "compressed"
    table = json.loads((folder / "compress.json").read_text())
    rows = {r["name"]: r for r in table["variants"]}
    assert list(rows) == ["original", "pruned-0.5", "int8-dynamic", "int8-static"]
    assert all(r["status"] == "ok" for r in rows.values()), rows
    assert rows["pruned-0.5"]["note"] == "weight sparsity 0.500"
    assert rows["pruned-0.5"]["gzip_bytes"] < rows["original"]["gzip_bytes"]
    assert rows["int8-dynamic"]["size_bytes"] < rows["original"]["size_bytes"]
    assert all(r["latency_ms"] > 0 for r in rows.values())
    assert rows["original"]["accuracy"] == table["reported_accuracy"]
    chosen = table["chosen"]
    assert chosen["accuracy_drop"] <= 0.02
    fits = [r for r in rows.values() if r["accuracy_drop"] <= 0.02]
    assert chosen["gzip_bytes"] == min(r["gzip_bytes"] for r in fits)
    model = load_compressed(folder)
    data = load_trial(shared_run.run_dir).data
    assert accuracy_of(model, data) == pytest.approx(chosen["accuracy"], abs=1e-9)


def test_compress_cli_with_overrides_and_a_model_static_cannot_trace(shared_run,
                                                                    tmp_path: Path,
                                                                    capsys) -> None:
    from torch import nn

    from raytuner.after.compress import compress_model, load_compressed
    from raytuner.config import CompressConfig

    out = tmp_path / "small"
    code, stdout, err = cli(capsys, "compress", str(shared_run.run_dir), "--out", str(out),
                            "--set", "compress.quantize=[static]",
                            "--set", "compress.sparsities=[]",
                            "--set", "compress.max_accuracy_drop=1.0")
    assert code == 0, err
    assert "*int8-static" in stdout  # the smallest, any accuracy allowed
    static = load_compressed(out)
    assert any("quantized" in type(m).__module__ for m in static.modules())

    class Branchy(nn.Module):  # data-dependent control flow: FX cannot trace it
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = x.flatten(1)
            if x.sum() > 0:
                x = x * 2
            return self.fc(x)

    data = load_trial(shared_run.run_dir).data
    rows, built = compress_model(Branchy().eval(), data, CompressConfig(
        sparsities=[0.5], quantize=["dynamic", "static"], latency_runs=1), 64)
    status = {r.name: (r.status, r.note) for r in rows}
    assert status["int8-static"][0] == "skipped" and status["int8-static"][1]
    assert status["int8-dynamic"][0] == "ok" and "int8-static" not in built

    code, _, err = cli(capsys, "compress", str(shared_run.run_dir),
                       "--set", "compress.sparsities=[1.5]")
    assert code == 2 and "sparsities" in err


# ----------------------------------------------------------------------------------------
# plan


def test_plan_bounds_the_asha_runs_epochs_and_calibrates_an_epoch(shared_run, tmp_path: Path,
                                                                  capsys) -> None:
    from raytuner.search.plan import make_plan

    exp = validate_experiment(tiny_experiment(**SHARED))
    plan = make_plan(exp, epoch_seconds=0.5, cpus=2, gpus=0)
    spent = sum(t["epochs"] for t in shared_run.summary["trials"])
    assert plan.trials == 6
    assert plan.epochs.lower <= spent <= plan.epochs.upper == 6 * 3
    assert plan.concurrency == 2
    assert plan.wall_seconds.upper == pytest.approx(18 * 0.5 / 2)

    path = write_yaml(tmp_path / "exp.yaml", tiny_experiment(**SHARED))
    code, stdout, err = cli(capsys, "plan", str(path), "--gpus", "0", "--json")
    assert code == 0, err
    data = json.loads(stdout)
    assert data["epoch_source"].startswith("calibrated") and data["epoch_seconds"] > 0
    # measured in a child process: the imports, a real Ray start, a probe trial's results
    measured = data["calibration"]
    assert all(measured[k] > 0 for k in ("ray_start_s", "actor_start_s", "report_s",
                                          "import_s", "checkpoint_s"))
    assert set(measured["epochs"]) == {"base", "first corner", "last corner"}
    start_up = measured["ray_start_s"] + measured["actor_start_s"]
    assert data["wall_seconds"]["lower"] >= start_up
    assert data["per_epoch"]["lower"] <= data["per_epoch"]["expected"] <= data["per_epoch"][
        "upper"]
    code, stdout, _ = cli(capsys, "plan", str(path), "--epoch-seconds", "2", "--cpus", "8")
    assert code == 0 and "wall-clock" in stdout and "rungs at epochs 1, 2" in stdout
    code, _, err = cli(capsys, "plan", str(path), "--epoch-seconds", "-1")
    assert code == 2 and "--epoch-seconds" in err


def test_plan_arithmetic_matches_rays_brackets() -> None:
    from raytuner.search.schedulers.asha import asha_epochs, asha_rungs
    from raytuner.search.schedulers.hyperband import hyperband_epochs

    assert asha_rungs(1, 3, 2, 0) == [1, 2]
    assert asha_rungs(2, 12, 3, 0) == [2, 6]
    budget = asha_epochs(16, 2, 12, 3, 1)
    # 16 trials to epoch 2, 16/3 on to 6, 16/9 on to 12.
    assert budget.expected == pytest.approx(16 * 2 + 16 / 3 * 4 + 16 / 9 * 6)
    assert (budget.lower, budget.upper) == (15 * 2 + 12, 16 * 12)
    hb, details = hyperband_epochs(16, 12, 3)
    # Ray's brackets: s=0 holds 3 trials of 12 epochs; s=1 5 trials from 4 epochs, 2 kept to
    # 12; s=2 the 8 left (of 9) from 1 epoch, 3 kept to 3, 1 kept to 9.
    assert hb.expected == 3 * 12 + (5 * 4 + 2 * 8) + (8 * 1 + 3 * 2 + 1 * 6)
    assert len(details) == 3 and hb.upper == 16 * 12


def test_warm_points_follow_the_new_space_and_fixed_settings(shared_run, caplog) -> None:
    from raytuner.search.warmstart import check_warm_start, warm_points

    def points(**changes):
        exp = validate_experiment(tiny_experiment(**{
            "search.space": SPACE, "search.warm_start": str(shared_run.run_dir), **changes}))
        return warm_points(exp)

    same = points()
    assert len(same) == 6
    by_id = {t["trial_id"]: t for t in shared_run.summary["trials"]}
    assert all(p.reward == by_id[p.trial_id]["best"] for p in same)
    # A key the old run kept fixed (model.depth = 1) is now searched: old trials fit at 1.
    deeper = points(**{"search.space": {**SPACE, "model.depth": {"int": [1, 2]}}})
    assert len(deeper) == 6 and all(p.params["model.depth"] == 1 for p in deeper)
    # A fixed setting changed outside the space: no old trial is a config of the new run.
    caplog.set_level(logging.WARNING, logger="raytuner")
    assert points(**{"train.batch_size": 64}) == []
    assert any("train.batch_size differs" in r.getMessage() for r in caplog.records)

    random = validate_experiment(tiny_experiment(**{
        "search.algorithm": "random", "search.warm_start": str(shared_run.run_dir)}))
    check_warm_start(random)
    assert any("does not apply" in r.getMessage() for r in caplog.records)
    missing = validate_experiment(tiny_experiment(**{"search.warm_start": "/nonexistent"}))
    with pytest.raises(raytuner.ConfigError, match="search.warm_start"):
        check_warm_start(missing)
