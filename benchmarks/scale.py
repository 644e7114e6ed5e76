"""B5 scale: 100, 300, 1,000 and 10,000 trivial trials with ASHA on a local multi-node cluster
(``ray.cluster_utils.Cluster``: a head with no CPUs and two 1-CPU worker nodes), back to back:
wall time, trials/s and memory against the number of trials. Memory is the RSS of the driver
and of Ray's own daemons, the GCS server and the three raylets, read from ``/proc``: they are
found as the descendants of the process that started the cluster (the driver itself), so only
the Ray instance this benchmark started is measured, never another user's on the same machine.

Every size runs in a fresh driver process (``python -m benchmarks.scale --worker N``) with its
own cluster, so memory figures do not carry over between sizes. The smoke size runs in-process
on whatever Ray is up (the test suite's shared cluster, started by the same process).

Growth: a least-squares line through (trials, figure) for wall time and each process's peak
RSS, with R^2 and the largest relative residual; and, as Ray's release test does for 10,000
one-second trials (within 1.28x of the ideal time), the largest size's wall time against the
"ideal" linear extrapolation of the smallest size's time per trial.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import LoadWatch, Options, Poller, Report, markdown_table, plot_lines

FULL_SIZES = [100, 300, 1000, 10000]
RAY_RELEASE_RATIO = 1.28  # Ray's own 10,000-trial release test: within 1.28x of ideal
DAEMONS = ("gcs_server", "raylet")
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


def _proc_status(pid: int) -> dict[str, str]:
    """``/proc/<pid>/status`` as a dict; empty when the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            return dict(line.rstrip("\n").split(":\t", 1) for line in handle if ":\t" in line)
    except OSError:
        return {}


def ray_daemons(root: int | None = None) -> dict[str, list[int]]:
    """Pids of the GCS server and raylets among ``root``'s descendants (default: this
    process, which started the cluster), by process name."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            status = _proc_status(int(entry))
            if status:
                names[int(entry)] = status.get("Name", "")
                children.setdefault(int(status.get("PPid", "0")), []).append(int(entry))
    found: dict[str, list[int]] = {name: [] for name in DAEMONS}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if names.get(pid) in found:
            found[names[pid]].append(pid)
        stack.extend(children.get(pid, []))
    return found


def _rss_of(pids: list[int]) -> float:
    """Summed RSS in MiB of the live ``pids``."""
    total = 0.0
    for pid in pids:
        rss = _proc_status(pid).get("VmRSS")
        total += int(rss.split()[0]) / 1024 if rss else 0.0
    return total


class RssSampler(Poller):
    """RSS (MiB) of the driver, the GCS server and the raylets (summed): the value before,
    the largest seen while running (sampled every 0.5 s) and the value after."""

    def __init__(self) -> None:
        super().__init__(0.5)
        daemons = ray_daemons()
        self.counts = {name: len(pids) for name, pids in daemons.items()}
        self._pids = {"driver": [os.getpid()], "gcs": daemons["gcs_server"],
                      "raylets": daemons["raylet"]}
        self.before = self._read()
        self.peak = dict(self.before)
        self.after: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        return {key: _rss_of(pids) for key, pids in self._pids.items()}

    def tick(self) -> None:
        for key, value in self._read().items():
            self.peak[key] = max(self.peak[key], value)

    def finish(self) -> None:
        self.tick()
        self.after = self._read()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"daemon_counts": self.counts}
        for key in self._pids:
            out[f"{key}_rss_before_mb"] = self.before[key]
            out[f"{key}_rss_peak_mb"] = self.peak[key]
            out[f"{key}_rss_after_mb"] = self.after.get(key)
        return out


def measure(num_trials: int, storage: Path) -> dict[str, Any]:
    """Run ``num_trials`` trivial raytuner trials with ASHA on the connected Ray."""
    import raytuner
    from benchmarks.overhead import trivial_experiment
    from benchmarks.tracking import EpochLedger
    from raytuner.config import validate_experiment

    exp = validate_experiment(trivial_experiment(
        num_trials, name=f"b5-{num_trials}", epochs=EPOCHS, scheduler="asha", max_concurrent=2))
    ledger = EpochLedger("val_accuracy")
    with RssSampler() as rss, LoadWatch() as load:
        ledger.restart_clock()
        result = raytuner.run(exp, storage=storage, callbacks=[ledger], stop=ledger,
                              shared_storage=True,  # one machine: every node shares its disk
                              overwrite=True)
        wall = time.monotonic() - ledger.t0
    return {"trials": result.summary["num_trials"], "epochs": ledger.epochs, "wall_s": wall,
            "last_result_s": ledger.records[-1].t if ledger.records else None,
            **rss.as_dict(), **load.as_dict()}


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
        partial = opts.out_dir / "b5_scale.partial.json"
        if opts.extra.get("report_only"):  # the sizes finished so far, e.g. after a stop
            saved = json.loads(partial.read_text(encoding="utf-8"))
            return _report({int(n): r for n, r in saved.items()}, opts)
        if opts.extra.get("resume") and partial.is_file():  # keep the sizes measured so far
            saved = json.loads(partial.read_text(encoding="utf-8"))
            results.update({int(n): r for n, r in saved.items() if int(n) in sizes})
        for n in sizes:
            if n in results:
                continue
            results[n] = measure_in_fresh_process(n, timeout_s=6 * 3600)
            opts.out_dir.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(results), encoding="utf-8")
    return _report(results, opts)


PROCESSES = {"driver": "driver", "gcs": "GCS server", "raylets": "raylets (3, summed)"}


def linear_fit(xs: list[float], ys: list[float]) -> dict[str, float | None]:
    """Least-squares line ``y = slope * x + intercept``, its R^2 and the largest residual
    relative to the fitted value (how far from linear the worst size is)."""
    n = len(xs)
    if n < 2:
        return {"slope": None, "intercept": None, "r2": None, "max_rel_residual": None}
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    fitted = [slope * x + intercept for x in xs]
    ss_res = sum((y - f) ** 2 for y, f in zip(ys, fitted, strict=True))
    ss_tot = sum((y - my) ** 2 for y in ys)
    rel = [abs(y - f) / abs(f) for y, f in zip(ys, fitted, strict=True) if f]
    return {"slope": slope, "intercept": intercept,
            "r2": 1 - ss_res / ss_tot if ss_tot else 1.0,
            "max_rel_residual": max(rel) if rel else 0.0}


def growth(results: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Linear fits of wall time and of each process's peak RSS against trials, and the
    largest size's time against the smallest size's time per trial scaled up."""
    sizes = sorted(results)
    fits = {"wall_s": linear_fit(sizes, [results[n]["wall_s"] for n in sizes])}
    for key in PROCESSES:
        fits[f"{key}_rss_peak_mb"] = linear_fit(
            sizes, [results[n][f"{key}_rss_peak_mb"] for n in sizes])
    small, large = sizes[0], sizes[-1]
    ideal = results[small]["wall_s"] / small * large
    return {"fits": fits, "smallest": small, "largest": large, "ideal_s": ideal,
            "ratio_to_ideal": results[large]["wall_s"] / ideal}


def _fit_text(fit: dict[str, float | None], unit: str) -> str:
    if fit["slope"] is None:
        return "one size only: no fit"
    sign = "-" if fit["intercept"] < 0 else "+"
    return (f"{fit['slope']:.4g} {unit}/trial {sign} {abs(fit['intercept']):.4g} {unit}, "
            f"R^2 {fit['r2']:.4f}, worst size {100 * fit['max_rel_residual']:.1f}% off the line")


def _report(results: dict[int, dict[str, Any]], opts: Options) -> Report:
    rows = []
    for n, r in sorted(results.items()):
        rows.append([n, r["trials"], r["epochs"], r["wall_s"], n / r["wall_s"],
                     *[r[f"{k}_rss_{w}_mb"] for k in PROCESSES for w in ("before", "peak")],
                     *[1024 * (r[f"{k}_rss_peak_mb"] - r[f"{k}_rss_before_mb"]) / n
                       for k in PROCESSES], r["load_mean_1m"]])
    header = ["trials", "trials run", "epochs", "wall s", "trials/s",
              *[f"{label} RSS {w} MiB" for label in PROCESSES.values()
                for w in ("before", "peak")],
              *[f"{label} KiB/trial" for label in PROCESSES.values()], "mean 1-min load"]
    grown = growth(results)
    fits = grown["fits"]
    lines = [f"- wall time: {_fit_text(fits['wall_s'], 's')}"]
    lines += [f"- {label} peak RSS: {_fit_text(fits[f'{k}_rss_peak_mb'], 'MiB')}"
              for k, label in PROCESSES.items()]
    verdict = "within" if grown["ratio_to_ideal"] <= RAY_RELEASE_RATIO else "outside"
    markdown = (
        f"Trivial raytuner trials (`benchmarks.datasets:trivial`, 4-unit MLP, up to {EPOCHS} "
        "epochs, random search, ASHA grace 1 eta 2, a checkpoint per epoch), 2 at a time on a "
        "local `ray.cluster_utils.Cluster` (head 0 CPUs, two 1-CPU worker nodes)"
        + ("; smoke: in-process on the shared test cluster" if opts.smoke else
           "; each size in a fresh driver process, back to back") + ". RSS read from /proc "
        "for the driver and for the GCS server and raylets that this driver's cluster started "
        "(its descendants by name); KiB/trial = (peak - before) / trials. Wall-clock figures "
        "were taken under the load in the last column; epochs, trial counts and memory are "
        "not load-sensitive.\n\n"
        + markdown_table(header, rows)
        + "\n\nLinear fits against the number of trials (least squares):\n\n"
        + "\n".join(lines)
        + f"\n\nLargest size {grown['largest']}: {results[grown['largest']]['wall_s']:.1f} s "
        f"against {grown['ideal_s']:.1f} s for the smallest size's time per trial "
        f"({grown['smallest']} trials) scaled up: {grown['ratio_to_ideal']:.2f}x, {verdict} "
        f"the {RAY_RELEASE_RATIO}x that Ray's release test allows its 10,000 one-second "
        "trials over their ideal time.\n")
    sizes = sorted(results)
    series = {"wall s": [(sizes, [results[n]["wall_s"] for n in sizes])]}
    for key, label in PROCESSES.items():
        series[f"{label} peak RSS MiB"] = [(sizes, [results[n][f"{key}_rss_peak_mb"]
                                                    for n in sizes])]
    plot = plot_lines(opts.out_dir / "b5_scale.png", series, xlabel="trials",
                      ylabel="seconds / MiB", title="B5: scale with trials")
    return Report("b5_scale", "B5: scale", markdown, [plot],
                  {"results": results, "growth": grown})


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
