"""Smoke sizes of every benchmark (so the scripts do not rot) and the pieces they rely on.

The figures are not pass/fail: these tests check that each benchmark runs end to end on a real
Ray and writes a readable table, plots and raw numbers with sane bookkeeping.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from benchmarks.common import Options, markdown_table, median_spread
from benchmarks.datasets import TRAIN_SIZE, VAL_SIZE, digits_subset, trivial
from benchmarks.tracking import EpochLedger, best_at, first_reaching

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------
# Pieces without Ray


def test_digits_subset_is_stratified_disjoint_and_fixed() -> None:
    a, b = digits_subset(None, 0), digits_subset(None, 7)
    assert len(a.train_y) == TRAIN_SIZE and len(a.val_y) == VAL_SIZE
    # every class present in both splits, in roughly equal numbers (stratified)
    counts = a.train_y.bincount(minlength=10)
    assert counts.min() >= TRAIN_SIZE // 10 - 2 and counts.max() <= TRAIN_SIZE // 10 + 2
    assert (a.val_y.bincount(minlength=10) > 0).all()
    # the subset does not depend on the experiment seed: every B1 seed tunes the same task
    assert (a.train_x == b.train_x).all() and (a.val_y == b.val_y).all()
    train_rows = {tuple(r.flatten().tolist()) for r in a.train_x}
    assert not any(tuple(r.flatten().tolist()) in train_rows for r in a.val_x[:50])


def test_trivial_dataset_shapes() -> None:
    data = trivial(None, 0)
    assert data.input_shape == (1, 2, 2) and data.num_classes == 2
    assert len(data.train_y) == 12 and len(data.val_y) == 4


def test_ledger_counts_epochs_exactly_and_stops_at_budget() -> None:
    ledger = EpochLedger("acc", budget=3)
    assert ledger("t1", {"epoch": 1, "acc": 0.5}) is False
    assert ledger("t1", {"epoch": 1, "acc": 0.5}) is False  # Tune's end-of-trial repeat
    assert ledger("t2", {"epoch": 1, "acc": 0.7}) is False
    assert not ledger.stop_all()
    assert ledger("t1", {"epoch": 2, "acc": 0.6}) is False
    assert ledger.stop_all() and ledger.epochs == 3
    assert ledger("t2", {"epoch": 2, "acc": 0.99}) is True  # over budget: stopped, not counted
    assert ledger.overrun == 1 and ledger.epochs == 3
    times, counts, best = ledger.best_so_far()
    assert counts == [1, 2, 3] and best == [0.5, 0.7, 0.7]
    assert first_reaching(times, counts, best, 0.7)[0] == 2
    assert first_reaching(times, counts, best, 0.99) == (None, None)
    assert best_at(counts, best, 1) == 0.5 and best_at(counts, best, 0) is None


def test_b1_schedule_keeps_every_seed_of_the_goal_methods() -> None:
    from benchmarks.search_efficiency import FULL, METHODS, _schedule

    order = _schedule(FULL, list(METHODS), None)
    seeds = {m: [s for s, k in order if k == m] for m in METHODS}
    assert seeds["a"] == seeds["d"] == seeds["e"] == seeds["f"] == list(range(FULL["seeds"]))
    assert seeds["b"] == seeds["c"] == list(range(FULL["secondary_seeds"]))
    assert FULL["seeds"] >= 5 and order[:2] == [(0, "a"), (0, "d")]  # seed by seed
    assert _schedule({"seeds": 2}, ["b", "a"], None) == [(0, "a"), (0, "b"), (1, "a"), (1, "b")]


def test_b5_linear_fit_and_growth() -> None:
    from benchmarks.scale import growth, linear_fit

    fit = linear_fit([100, 300, 1000], [12.0, 32.0, 102.0])
    assert fit["slope"] == pytest.approx(0.1) and fit["intercept"] == pytest.approx(2.0)
    assert fit["r2"] == pytest.approx(1.0) and fit["max_rel_residual"] == pytest.approx(0.0)
    bent = linear_fit([100, 300, 1000], [10.0, 30.0, 400.0])
    assert bent["r2"] < 0.99 and bent["max_rel_residual"] > 0.2
    row = {"driver_rss_peak_mb": 1.0, "gcs_rss_peak_mb": 1.0, "raylets_rss_peak_mb": 1.0}
    grown = growth({100: {"wall_s": 10.0, **row}, 1000: {"wall_s": 150.0, **row}})
    assert grown["ideal_s"] == pytest.approx(100.0) and grown["ratio_to_ideal"] == 1.5


def test_markdown_helpers() -> None:
    table = markdown_table(["a", "b"], [[1, 0.12345], ["x", None]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | 0.123 |", "| x | - |"]
    assert median_spread([1.0, None, 3.0]) == "2.000 [1.000, 3.000] (1 of 3 never)"


def test_entry_point_rejects_unknown_benchmark() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "nope"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


# ---------------------------------------------------------------------------------------------
# Smoke runs on one shared local multi-node cluster


@pytest.fixture(scope="module")
def cluster():
    """The B5 cluster (head 0 CPUs, two 1-CPU workers), shared by every smoke run."""
    from benchmarks.scale import start_local_cluster, stop_local_cluster

    handle = start_local_cluster()
    yield handle
    stop_local_cluster(handle)


def _smoke(name: str, tmp_path: Path, **extra) -> tuple[str, dict]:
    import importlib

    from benchmarks.__main__ import BENCHMARKS

    module = importlib.import_module(BENCHMARKS[name])
    report = module.run(Options(smoke=True, out_dir=tmp_path, extra=extra))
    path = report.write(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# ") and "| " in text and "ray 2." in text
    for plot in report.plots:
        assert plot.read_bytes()[:8] == PNG_MAGIC and plot.name in text
    data = json.loads((tmp_path / f"{report.name}.json").read_text(encoding="utf-8"))
    return text, data


@pytest.mark.slow
def test_b1_smoke_every_method_spends_exactly_the_budget(cluster, tmp_path: Path) -> None:
    text, data = _smoke("b1", tmp_path)
    budget = data["size"]["budget"]
    assert set(data["runs"]) == {"a", "b", "c", "d", "e", "f"}
    assert data["seeds"] == {key: 1 for key in "abcdef"}
    for key, runs in data["runs"].items():
        for run in runs:
            assert run["epochs"] == budget, (key, run["epochs"])
            assert run["curve"]["n"] == list(range(1, budget + 1))
            assert run["best"]["1.0"] is not None
    assert "Goals:" in text and "(e) Optuna" in text and "(f) Optuna TPE + Successive" in text
    assert "against (f)" in text  # (d) is held against the ASHA-like Optuna peer too
    # the runs saved along the way rebuild the same report without running anything
    from benchmarks.search_efficiency import run as run_b1

    again = run_b1(Options(smoke=True, out_dir=tmp_path, extra={"report_only": True}))
    assert again.data["runs"]["d"][0]["epochs"] == budget
    # --resume keeps the saved runs and has nothing left to run
    resumed = run_b1(Options(smoke=True, out_dir=tmp_path, extra={"resume": True}))
    assert {k: [r["wall_s"] for r in v] for k, v in resumed.data["runs"].items()} == {
        k: [r["wall_s"] for r in v] for k, v in data["runs"].items()}


@pytest.mark.slow
def test_b6_smoke_population_methods_spend_the_budget_and_rebuild(cluster, tmp_path: Path
                                                                 ) -> None:
    text, data = _smoke("b6", tmp_path, methods=["pbt", "pb2"])
    budget = data["size"]["budget"]
    for key, runs in data["runs"].items():
        for run in runs:
            # a copy continues at its donor's epoch, which may skip some of the budget
            assert budget - data["size"]["max_epochs"] <= run["epochs"] <= budget, (key, run)
            assert run["trials"] == 3, (key, run)  # ceil(budget / epochs per trial)
            assert run["best"]["1.0"] is not None
    assert "PBT (population" in text and "PB2 (population" in text
    from benchmarks.population import run as run_b6

    again = run_b6(Options(smoke=True, out_dir=tmp_path, extra={"report_only": True}))
    assert again.data["runs"] == data["runs"] and again.markdown in text  # from the JSON


@pytest.mark.slow
def test_b7_smoke_both_methods_spend_the_budget_and_rebuild(cluster, tmp_path: Path) -> None:
    text, data = _smoke("b7", tmp_path)
    budget = data["size"]["budget"]
    assert set(data["runs"]) == {"random", "moasha"}
    for key, runs in data["runs"].items():
        for run in runs:
            assert run["epochs"] == budget == len(run["points"]), (key, run)
            assert all(p[3] > 0 for p in run["points"])  # params measured at every epoch
    from benchmarks.multi_objective import front_hypervolume
    from benchmarks.multi_objective import run as run_b7

    for scale in ("params", "log10_params"):
        reference = tuple(data["hypervolume"][scale]["reference"])
        for key, runs in data["runs"].items():
            full = data["hypervolume"][scale]["by_method"][key][0]["1.0"]
            assert full == front_hypervolume(runs[0]["points"], budget, reference, scale) > 0
    assert "MOASHA" in text and "random + FIFO" in text and "per seed" in text
    again = run_b7(Options(smoke=True, out_dir=tmp_path, extra={"report_only": True}))
    assert again.markdown in text  # from the JSON


def test_b7_front_hypervolume_takes_each_trials_latest_values() -> None:
    from benchmarks.multi_objective import front_hypervolume

    points = [["a", 1, 0.5, 10.0], ["b", 1, 0.4, 5.0], ["a", 2, 0.8, 10.0]]
    reference = (0.0, 20.0)
    assert front_hypervolume(points, 1, reference) == pytest.approx(0.5 * 10)
    assert front_hypervolume(points, 2, reference) == pytest.approx(0.5 * 10 + 0.4 * 5)
    assert front_hypervolume(points, 3, reference) == pytest.approx(0.8 * 10 + 0.4 * 5)
    # on the log scale: log10(20) - log10(10) for a, log10(20) - log10(5) for b beyond it
    log_ref = (0.0, math.log10(20.0))
    assert front_hypervolume(points, 3, log_ref, "log10_params") == pytest.approx(
        0.8 * (math.log10(20) - 1) + 0.4 * (1 - math.log10(5)))


@pytest.mark.slow
def test_b2_smoke_runs_every_variant(cluster, tmp_path: Path) -> None:
    text, data = _smoke("b2", tmp_path)
    for label, outcomes in data["measured"].items():
        assert outcomes[0]["trials"] == outcomes[0]["asked"], label
    assert "bare Tuner, defaults (no reuse)" in text and "same work" in text
    assert data["ratio_same_work"] > 0 and "goal >= 0.90x" in text


@pytest.mark.slow
def test_b3_smoke_measures_both_loops(cluster, tmp_path: Path) -> None:
    text, data = _smoke("b3", tmp_path)
    rates = data["bare_train"] + data["bare_epoch"] + data["inside"] + data["end_to_end"]
    rates += data["tune_inside"] + data["tune_end_to_end"]
    assert data["bare_train"] and data["inside"] and data["end_to_end"]
    assert data["tune_inside"] and data["tune_end_to_end"]
    assert all(v > 0 for v in rates)
    # a whole epoch (evaluation and checkpoint included) is slower than its training part
    assert max(data["bare_epoch"]) < max(data["bare_train"])
    assert data["ratio_train"] > 0 and "own process" in text
    assert data["ratio_end_to_end_vs_tune"] > 0 and "bare Ray Tune trainable" in text


@pytest.mark.slow
def test_b4_smoke_runs_with_and_without_loggers(cluster, tmp_path: Path) -> None:
    from benchmarks.logging_overhead import ALL_OFF, ALL_ON, VARIANTS

    text, data = _smoke("b4", tmp_path)
    assert set(data["measured"]) == set(VARIANTS)
    for outcomes in data["measured"].values():
        assert outcomes[0]["epochs"] >= 2 and outcomes[0]["best"] is not None
    # each variant really ran with the loggers it names, and only those
    on, tb_off, off = (data["measured"][k][0] for k in VARIANTS)
    assert on["tensorboard_files"] > 0 and on["result_json_files"] >= 2
    assert tb_off["tensorboard_files"] == 0 and tb_off["result_json_files"] >= 2
    assert off["tensorboard_files"] == 0 and off["result_json_files"] == 0
    assert ALL_ON in text and ALL_OFF in text and "per epoch" in text


@pytest.mark.slow
def test_b5_smoke_runs_every_size(cluster, tmp_path: Path) -> None:
    text, data = _smoke("b5", tmp_path)
    for size, outcome in data["results"].items():
        assert outcome["trials"] == int(size)
        # the cluster's own daemons, found among this process's descendants: 1 GCS, 3 raylets
        assert outcome["daemon_counts"] == {"gcs_server": 1, "raylet": 3}
        for proc in ("driver", "gcs", "raylets"):
            assert 0 < outcome[f"{proc}_rss_before_mb"] <= outcome[f"{proc}_rss_peak_mb"]
            assert outcome[f"{proc}_rss_after_mb"] > 0
    fits = data["growth"]["fits"]
    assert set(fits) == {"wall_s", "driver_rss_peak_mb", "gcs_rss_peak_mb",
                         "raylets_rss_peak_mb"}
    assert fits["wall_s"]["slope"] is not None and data["growth"]["ratio_to_ideal"] > 0
    assert "GCS server" in text and "Linear fits" in text


@pytest.mark.slow
def test_default_experiment_smoke(tmp_path: Path) -> None:
    # both jobs in fresh processes, each with its own Ray (the module's Ray is not used);
    # through the entry point, which stores the command line with the result
    from benchmarks.__main__ import main

    assert main(["default", "--smoke", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "default_experiment.md").read_text(encoding="utf-8")
    data = json.loads((tmp_path / "default_experiment.json").read_text(encoding="utf-8"))
    assert data["command"] == f"python -m benchmarks default --smoke --out {tmp_path}"
    for side in ("raytuner", "flat", "bare"):
        (run,) = data[side]
        assert run["trials"] == 2 and run["epochs"] >= 2 and run["best"] > 0.1
        assert 0 < run["first_result_s"] < run["total_s"]
        assert 0 < run["inside_s"] < run["total_s"]
    assert data["plan"]["trials"] == 2
    assert "hand-written Ray Tune" in text and "bounds contain every run" in text
    assert "raytuner, flat space" in text and data["ratio_total_flat"] > 0


def test_results_page_copies_every_figure_from_stored_results(tmp_path: Path) -> None:
    from benchmarks.render_results import SECTIONS, render

    (tmp_path / "b2_overhead.md").write_text("# B2\n\n| variant | trials/s |\n|---|---|\n"
                                             "| raytuner | 12.345 |\n\n![b2](b2_overhead.png)\n")
    (tmp_path / "b2_overhead.json").write_text(json.dumps(
        {"ratio_same_work": 0.8125, "command": "python -m benchmarks b2 --seeds 3"}))
    (tmp_path / "b3_trial_speed.md").write_text("# B3\n\n| loop | samples/s |\n|---|---|\n")
    (tmp_path / "default_experiment.json").write_text(json.dumps(
        {"ratio_total": 1.0625, "plan_contains_runs": True,
         "first_result_s": {"raytuner": 9.5, "bare": 10.0}}))
    (tmp_path / "chaos_soak.md").write_text("# Chaos soak\n\n42 faults injected\n")
    page = render(tmp_path)
    assert "| raytuner | 12.345 |" in page and "](results/b2_overhead.png)" in page
    assert "| 0.812 | >= 0.9 | **missed** |" in page  # the goal's verdict from the JSON
    assert "| 1.062 | <= 1.1 | **met** |" in page
    assert "-0.50 s | <= 0 s | **met** |" in page
    assert "## Chaos soak" in page and "42 faults injected" in page
    # the command each result was made by comes from its JSON; none stored: said so
    assert "Command: `python -m benchmarks b2 --seeds 3`." in page
    assert page.count("Command: not stored with this result.") == 1
    assert page.count("Command:") == 2
    # every benchmark but B2 and B3 stored no table here
    assert page.count("Not measured on the current code.") == len(SECTIONS) - 2


def test_chaos_report_table_comes_from_its_data() -> None:
    from benchmarks import chaos

    outcome = {"summary_written": True, "num_trials": 100, "expected": 100,
               "statuses": {"completed": 100}, "trials_retried": 3, "retries_total": 4,
               "max_retries_one_trial": 2, "errored_within_budget": [],
               "non_contiguous_epochs": [], "epochs_total": 300, "best_trial": "a_00001",
               "best_value": 0.97, "best_checkpoint_loadable": True, "ok": True}
    data = {"command": "python -m benchmarks chaos", "date": "2026-12-02 04:00 UTC",
            "trials": 100, "epochs": 3, "max_worker_kills": 12, "time_limit_s": 1800.0,
            "wall_s": 300.0, "load": "load 2.0", "driver_rc": [-9, 0], "outcome": outcome,
            "faults": [{"kind": "worker SIGKILL"}, {"kind": "worker SIGKILL"},
                       {"kind": "driver SIGKILL (session)"}]}
    text = chaos._markdown(data)
    assert "| worker SIGKILL | 2 |" in text and "| driver SIGKILL (session) | 1 |" in text
    assert "| **all checks pass** | **True** |" in text


def test_chaos_worker_kills_are_spread_over_the_trials_progress(tmp_path: Path) -> None:
    from benchmarks import chaos

    soak = chaos.Soak(tmp_path, trials=100, max_kills=12, time_limit_s=60.0)
    # the k-th kill once k/13 of the 100 trials have finished: 7.7, 15.4, ... 92.3
    assert not soak.worker_kill_due(7) and soak.worker_kill_due(8)
    soak.faults.append({"kind": "worker SIGKILL"})
    soak.faults.append({"kind": "driver SIGKILL (session)"})  # not a worker kill
    assert not soak.worker_kill_due(15) and soak.worker_kill_due(16)
    soak.faults += [{"kind": "worker SIGKILL"}] * 11
    assert not soak.worker_kill_due(100)  # all 12 spent


def test_a_report_rebuilt_from_saved_runs_keeps_the_command_that_ran_them(
        tmp_path: Path) -> None:
    from benchmarks.__main__ import _stored_command

    (tmp_path / "b1_search_efficiency.json").write_text(
        json.dumps({"command": "python -m benchmarks b1 --seeds 5"}), encoding="utf-8")
    (tmp_path / "b5_scale.json").write_text("{not json", encoding="utf-8")
    assert _stored_command(tmp_path, "b1_search_efficiency") == \
        "python -m benchmarks b1 --seeds 5"
    assert _stored_command(tmp_path, "b5_scale") is None  # unreadable: the new command
    assert _stored_command(tmp_path, "b6_population") is None  # none stored
