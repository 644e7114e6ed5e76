"""Multi-objective search end to end with a real Ray: experiments/digits_accuracy_vs_latency.yaml
(Optuna's multi-objective TPE + MOASHA, accuracy against measured latency) run through the real
`raytuner` command, made smaller; the front in summary.json checked by a brute-force filter,
`raytuner best` (front, --json, --pick), `raytuner export --trial` of a front member, the
report's front and hypervolume, and the hypervolume curve read back with TensorBoard's reader."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import REPO, run_cli
from tb_helpers import load, scalars

import raytuner
from raytuner.after.export import load_export
from raytuner.after.loading import accuracy_of
from raytuner.tensorboard.pareto import HYPERVOLUME_TAG, PARETO_RUN

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "experiments" / "digits_accuracy_vs_latency.yaml"
SETS = ["train.epochs=4", "search.num_samples=8", "search.n_initial_points=4",
        "search.latency_batch=32"]
GOALS = [("val_accuracy", "max"), ("latency_ms", "min")]


@pytest.fixture(scope="module")
def mo_run(tmp_path_factory) -> dict[str, Any]:
    storage = tmp_path_factory.mktemp("mo") / "runs"
    args = ["run", str(EXAMPLE), "--storage", str(storage)]
    for item in SETS:
        args += ["--set", item]
    result = run_cli(*args, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = storage / "digits_accuracy_vs_latency"
    return {"run_dir": run_dir, "stdout": result.stdout,
            "summary": json.loads((run_dir / "summary.json").read_text())}


def _dominated(p: tuple[float, ...], q: tuple[float, ...]) -> bool:
    """True when q beats p: at least as good in both (accuracy up, latency down), not equal."""
    return q[0] >= p[0] and q[1] <= p[1] and q != p


def test_the_front_is_exactly_the_non_dominated_trials(mo_run) -> None:
    summary = mo_run["summary"]
    assert summary["objectives"] == [{"metric": m, "mode": mode} for m, mode in GOALS]
    points = {t["trial_id"]: (t["metrics"]["val_accuracy"], t["metrics"]["latency_ms"])
              for t in summary["trials"] if t["metrics"].get("latency_ms") is not None}
    assert len(points) == summary["num_trials"] == 8  # every trial measured its latency
    assert all(v[1] > 0 and math.isfinite(v[1]) for v in points.values())
    brute = {t for t, p in points.items() if not any(_dominated(p, q) for q in points.values())}
    assert summary["pareto"] and set(summary["pareto"]) == brute
    assert summary["hypervolume"]["value"] > 0
    # MOASHA stopped someone at a rung, and the front is what the end of the run printed
    assert summary["status_counts"].get("stopped", 0) >= 1, summary["status_counts"]
    assert "Pareto front:" in mo_run["stdout"]
    for trial_id in summary["pareto"]:
        assert trial_id in mo_run["stdout"]


def test_best_returns_the_front_and_picks_one(mo_run) -> None:
    run_dir, summary = mo_run["run_dir"], mo_run["summary"]
    text = run_cli("best", str(run_dir))
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"Pareto front: {len(summary['pareto'])} of 8 trials")
    front = json.loads(run_cli("best", str(run_dir), "--json").stdout)
    assert [r["trial_id"] for r in front["pareto"]] == summary["pareto"]
    latencies = sorted(r["metrics"]["latency_ms"] for r in front["pareto"])
    bound = latencies[0]  # only the fastest member meets it
    picked = json.loads(run_cli("best", str(run_dir), "--pick", f"latency_ms<={bound!r}",
                                "--json").stdout)
    fastest = min(front["pareto"], key=lambda r: r["metrics"]["latency_ms"])
    assert picked["trial_id"] == fastest["trial_id"]
    bad = run_cli("best", str(run_dir), "--pick", f"latency_ms<{bound / 2!r}")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "no trial on the Pareto front meets" in bad.stderr


def test_a_front_member_exports_with_the_values_the_front_shows(mo_run, tmp_path: Path
                                                                ) -> None:
    run_dir, summary = mo_run["run_dir"], mo_run["summary"]
    member = next(t for t in summary["trials"] if t["trial_id"] == summary["pareto"][-1])
    out = tmp_path / "member"
    result = run_cli("export", str(run_dir), "--trial", member["trial_id"], "--out", str(out))
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "export.json").read_text())
    assert meta["trial_id"] == member["trial_id"] and meta["epoch"] == member["epochs"]
    torch.set_num_threads(1)
    model = raytuner.load_model(out)
    data = load_export(out).load_data()
    assert accuracy_of(model, data) == member["metrics"]["val_accuracy"]  # its last epoch's


def test_report_draws_the_front_and_tensorboard_has_the_hypervolume_curve(mo_run) -> None:
    run_dir, summary = mo_run["run_dir"], mo_run["summary"]
    curve_at_end = scalars(load(run_dir / "tensorboard" / PARETO_RUN), ".", HYPERVOLUME_TAG)
    result = run_cli("report", str(run_dir), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((run_dir / "report" / "report.json").read_text())
    pareto = report["pareto"]
    assert pareto["front"] == summary["pareto"]
    assert pareto["hypervolume"] == pytest.approx(summary["hypervolume"]["value"])
    assert (run_dir / "report" / "pareto_front.png").is_file()
    assert (run_dir / "report" / "hypervolume.png").is_file()
    assert "Pareto front" in (run_dir / "report" / "report.html").read_text()
    curve = [tuple(point) for point in pareto["hypervolume_curve"]]
    epochs = sum(t["epochs"] for t in summary["trials"])
    assert [spent for spent, _ in curve] == list(range(1, epochs + 1))
    assert curve[-1][1] == pytest.approx(summary["hypervolume"]["value"])
    board = scalars(load(run_dir / "tensorboard" / PARETO_RUN), ".", HYPERVOLUME_TAG)
    assert [s for s, _ in board] == [s for s, _ in curve]
    assert [v for _, v in board] == pytest.approx([v for _, v in curve], rel=1e-6)
    assert board == curve_at_end  # the end of the run wrote the same curve
