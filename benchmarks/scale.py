"""B5 scale: 100, 300 and 1,000 trivial trials with ASHA on a local multi-node cluster
(``ray.cluster_utils.Cluster``: a head with no CPUs and two 1-CPU worker nodes): wall time and
driver memory (RSS of the driver process) against the number of trials.

Full size runs every trial count in a fresh driver process (``python -m benchmarks.scale
--worker N``) with its own cluster, so memory figures do not carry over between sizes. The
smoke size runs in-process on whatever Ray is up (the test suite's shared cluster).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.common import LoadWatch, Options, Report, markdown_table, plot_lines, rss_mb

FULL_SIZES = [100, 300, 1000]
SMOKE_SIZES = [3, 6]
EPOCHS = 4  # ASHA rungs 1, 2, 4 (eta 2): most trials stop after one or two epochs
REPO = Path(__file__).resolve().parents[1]


def start_local_cluster(workers: int = 2):
    """A head node with 0 CPUs (the driver's node schedules nothing) and ``workers`` 1-CPU
    nodes, all on this machine; the driver is connected to it. Returns the cluster."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(workers):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING")
    return cluster


def stop_local_cluster(cluster) -> None:
    import ray

    ray.shutdown()
    cluster.shutdown()


class RssSampler:
    """The driver's largest RSS seen while running (sampled every 0.2 s)."""

    def __init__(self) -> None:
        self.peak = rss_mb()[0]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb()[0])

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_mb()[0])


def measure(num_trials: int, storage: Path) -> dict[str, Any]:
    """Run ``num_trials`` trivial raytuner trials with ASHA on the connected Ray."""
    import raytuner
    from benchmarks.overhead import trivial_experiment
    from benchmarks.tracking import EpochLedger
    from raytuner.config import validate_experiment

    exp = validate_experiment(trivial_experiment(
        num_trials, name=f"b5-{num_trials}", epochs=EPOCHS, scheduler="asha", max_concurrent=2))
    ledger = EpochLedger("val_accuracy")
    rss_before = rss_mb()[0]
    with RssSampler() as rss, LoadWatch() as load:
        ledger.restart_clock()
        result = raytuner.run(exp, storage=storage, callbacks=[ledger], stop=ledger,
                 shared_storage=True,  # one machine: every node shares its disk
                              overwrite=True)
        wall = time.monotonic() - ledger.t0
    return {"trials": result.summary["num_trials"], "epochs": ledger.epochs, "wall_s": wall,
            "last_result_s": ledger.records[-1].t if ledger.records else None,
            "rss_before_mb": rss_before, "rss_after_mb": rss_mb()[0], "rss_peak_mb": rss.peak,
            **load.as_dict()}


def measure_in_fresh_process(num_trials: int, timeout_s: float) -> dict[str, Any]:
    """``measure`` in a new driver process with its own local cluster."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--worker",
                           str(num_trials)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout_s)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("B5RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"B5 worker for {num_trials} trials failed: {proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("B5RESULT "):])


def run(opts: Options) -> Report:
    """Every size; wall time and driver RSS, and how each grows."""
    import ray

    sizes = ([int(x) for x in str(opts.extra["trials"]).split(",")] if opts.extra.get("trials")
             else (SMOKE_SIZES if opts.smoke else FULL_SIZES))
    results: dict[int, dict[str, Any]] = {}
    if opts.smoke:
        cluster = None if ray.is_initialized() else start_local_cluster()
        try:
            with tempfile.TemporaryDirectory(prefix="b5-") as tmp:
                for n in sizes:
                    results[n] = measure(n, Path(tmp))
        finally:
            if cluster is not None:
                stop_local_cluster(cluster)
    else:
        for n in sizes:
            results[n] = measure_in_fresh_process(n, timeout_s=3600)
    return _report(results, opts)


def _growth(results: dict[int, dict[str, Any]], key: str) -> str:
    """Per-trial increments between consecutive sizes."""
    sizes = sorted(results)
    parts = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        delta = (results[b][key] - results[a][key]) / (b - a)
        parts.append(f"{a}->{b}: {delta * 1024:.1f} KiB/trial" if key.endswith("_mb")
                     else f"{a}->{b}: {delta:.3f} s/trial")
    return "; ".join(parts)


def _report(results: dict[int, dict[str, Any]], opts: Options) -> Report:
    rows = [[n, r["trials"], r["epochs"], r["wall_s"], n / r["wall_s"], r["rss_before_mb"],
             r["rss_peak_mb"], r["rss_peak_mb"] - r["rss_before_mb"], r["load_mean_1m"]]
            for n, r in sorted(results.items())]
    header = ["trials", "trials run", "epochs", "wall s", "trials/s", "driver RSS before MiB",
              "driver RSS peak MiB", "growth MiB", "mean 1-min load"]
    for r in results.values():
        r["rss_growth_mb"] = r["rss_peak_mb"] - r["rss_before_mb"]
    markdown = (
        f"Trivial raytuner trials (`benchmarks.datasets:trivial`, 4-unit MLP, up to {EPOCHS} "
        "epochs, random search, ASHA grace 1 eta 2, a checkpoint per epoch), 2 at a time on a "
        "local `ray.cluster_utils.Cluster` (head 0 CPUs, two 1-CPU worker nodes)"
        + ("; smoke: in-process on the shared test cluster" if opts.smoke else
           "; each size in a fresh driver process") + ".\n\n"
        + markdown_table(header, rows)
        + f"\n\nGrowth per added trial: wall {_growth(results, 'wall_s')}; driver RSS "
        f"{_growth(results, 'rss_growth_mb')}.\n")
    sizes = sorted(results)
    plot = plot_lines(opts.out_dir / "b5_scale.png",
                      {"wall s": [(sizes, [results[n]["wall_s"] for n in sizes])],
                       "driver RSS peak - before (MiB)": [(sizes, [results[n]["rss_growth_mb"]
                                                                    for n in sizes])]},
                      xlabel="trials", ylabel="seconds / MiB", title="B5: scale with trials")
    return Report("b5_scale", "B5: scale", markdown, [plot], {"results": results})


def _worker_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one B5 size in this process")
    parser.add_argument("--worker", type=int, required=True, help="number of trials")
    args = parser.parse_args(argv)
    cluster = start_local_cluster()
    try:
        with tempfile.TemporaryDirectory(prefix="b5-") as tmp:
            outcome = measure(args.worker, Path(tmp))
    finally:
        stop_local_cluster(cluster)
    print("B5RESULT " + json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
