"""Smoke sizes of every benchmark (so the scripts do not rot) and the pieces they rely on.

The figures are not pass/fail: these tests check that each benchmark runs end to end on a real
Ray and writes a readable table, plots and raw numbers with sane bookkeeping.
"""

from __future__ import annotations

import json
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
    assert set(data["runs"]) == {"a", "b", "c", "d", "e"}
    for key, runs in data["runs"].items():
        for run in runs:
            assert run["epochs"] == budget, (key, run["epochs"])
            assert run["curve"]["n"] == list(range(1, budget + 1))
            assert run["best"]["1.0"] is not None
    assert "Goals:" in text and "(e) Optuna" in text
    # the runs saved along the way rebuild the same report without running anything
    from benchmarks.search_efficiency import run as run_b1

    again = run_b1(Options(smoke=True, out_dir=tmp_path, extra={"report_only": True}))
    assert again.data["runs"]["d"][0]["epochs"] == budget


@pytest.mark.slow
def test_b2_smoke_runs_every_variant(cluster, tmp_path: Path) -> None:
    text, data = _smoke("b2", tmp_path)
    for label, outcomes in data["measured"].items():
        assert outcomes[0]["trials"] == outcomes[0]["asked"], label
    assert "bare Tuner, defaults (no reuse)" in text


@pytest.mark.slow
def test_b3_smoke_measures_both_loops(cluster, tmp_path: Path) -> None:
    _, data = _smoke("b3", tmp_path)
    assert data["bare"] and data["inside"] and all(v > 0 for v in data["bare"] + data["inside"])


@pytest.mark.slow
def test_b4_smoke_runs_with_and_without_loggers(cluster, tmp_path: Path) -> None:
    text, data = _smoke("b4", tmp_path)
    assert set(data["measured"]) == {"Ray default loggers on", "all loggers off"}
    for outcomes in data["measured"].values():
        assert outcomes[0]["epochs"] >= 2 and outcomes[0]["best"] is not None
    assert "--tb-aggregation" in text


@pytest.mark.slow
def test_b5_smoke_runs_every_size(cluster, tmp_path: Path) -> None:
    _, data = _smoke("b5", tmp_path)
    for size, outcome in data["results"].items():
        assert outcome["trials"] == int(size) and outcome["rss_peak_mb"] > 0


@pytest.mark.slow
def test_default_experiment_smoke(cluster, tmp_path: Path) -> None:
    text, data = _smoke("default", tmp_path)
    assert data["cli"]["trials"] == 2 and data["cli"]["best"] is not None
    assert len(data["probe"]["plain"]) == 3 and len(data["probe"]["report_ckpt"]) == 3
    assert "per-trial start cost" in text


def test_chaos_report_rewrites_only_its_own_section_of_results_md(tmp_path: Path) -> None:
    from benchmarks import chaos

    page = tmp_path / "RESULTS.md"
    page.write_text("# Benchmark results\n\n## B1\n\nkept\n")
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
    for _ in range(2):  # a second run replaces the section instead of adding one
        chaos.update_results_md(chaos._markdown(data), data, page)
    text = page.read_text()
    assert text.startswith("# Benchmark results\n\n## B1\n\nkept\n")
    assert text.count(chaos.SECTION_BEGIN) == 1 and text.count("## Chaos soak") == 1
    assert "| worker SIGKILL | 2 |" in text and "| driver SIGKILL (session) | 1 |" in text
    assert "| **all checks pass** | **True** |" in text
