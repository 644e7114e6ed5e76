"""raytuner on local multi-node Ray clusters: fractional GPUs spread over nodes with checkpoints
in shared storage, a trial resuming on another node when its node dies, the storage and resource
checks against a live cluster, and an autoscaler scaling GPU workers up from zero.

Every experiment runs as its own `raytuner run --address ...` driver process with a timeout: a
trial that never gets resources would wait forever."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, tiny_experiment, write_yaml
from multinode_support import (
    cluster_nodes,
    driver_env,
    fake_autoscaling_cluster,
    raytuner_cmd,
    results,
    run_raytuner,
    short_temp_dir,
)

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 300


def _experiment(tmp_path: Path, **changes) -> Path:
    base = {"search.algorithm": "random", "search.scheduler": {"name": "fifo"},
            "search.space": {"train.lr": {"loguniform": [1.0e-3, 1.0e-2]}},
            "model.channels": 4, "model.hidden": 16, "train.batch_size": 256,
            "failure.max_retries": 2}
    raw = tiny_experiment(**{**base, **changes})
    del raw["search"]["max_concurrent"]  # the default: what the cluster holds
    raw["search"].pop("n_initial_points", None)
    return write_yaml(tmp_path / "exp.yaml", raw)


def _ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def _config_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raytuner: error:"), result.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def cluster() -> Iterator:
    """A head with no CPUs and two worker nodes of 1 CPU and 1 logical GPU each, under a private
    Ray temp root (so the machine's other Ray clusters are neither seen nor touched)."""
    from ray.cluster_utils import Cluster

    saved = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = short_temp_dir("rtm")
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, num_gpus=1)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()
        if saved is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = saved


def test_live_cluster_capacity_and_checks(cluster, tmp_path: Path) -> None:
    import ray

    from raytuner.cluster import capacity
    from raytuner.errors import ConfigError

    ray.init(address=cluster.address, logging_level="WARNING")
    try:
        # the head's monitor runs here without --autoscaling-config: a fixed cluster
        assert capacity.autoscaling() == capacity.STATIC
        assert capacity.default_max_concurrent(0.5, 0.5) == 4  # 2 nodes x 2 trials per GPU
        assert capacity.default_max_concurrent(1, 0.25) == 2  # 1 CPU per node is the limit
        with pytest.raises(ConfigError, match="--shared-storage"):
            capacity.check_cluster(1, 1, tmp_path / "run", shared=False, fresh=False)

        @ray.remote(num_gpus=1, num_cpus=1)
        def device_of_a_gpu_trial(raw: dict) -> tuple[list, str]:
            from raytuner.config import validate_experiment
            from raytuner.trial.trainable import _device

            return ray.get_gpu_ids(), _device(validate_experiment(raw))

        raw = tiny_experiment(**{"resources.gpu": 1})
        gpu_ids, device = ray.get(device_of_a_gpu_trial.remote(raw), timeout=120)
        # Ray gave a (logical) GPU; there is no CUDA device, so the trial trains on the CPU.
        assert len(gpu_ids) == 1 and device == "cpu"
    finally:
        ray.shutdown()


def test_cluster_refuses_local_storage_and_impossible_resources(cluster, tmp_path: Path
                                                                ) -> None:
    exp = _experiment(tmp_path)
    storage = tmp_path / "runs"
    # RAY_ADDRESS (what `ray job submit` gives a job's driver) joins the cluster like --address
    line = _config_error(run_raytuner("run", str(exp), "--storage", str(storage),
                                      timeout=RUN_TIMEOUT, RAY_ADDRESS=cluster.address))
    assert str(storage) in line and "3 nodes" in line and "--shared-storage" in line
    assert not (storage / "tiny").exists()  # the refused run left no folder behind

    line = _config_error(run_raytuner(
        "run", str(exp), "--address", cluster.address, "--storage", str(storage),
        "--shared-storage", "--set", "resources.gpu=2", timeout=RUN_TIMEOUT))
    assert "resources.gpu" in line and "2 GPU" in line and "(1 CPU, 1 GPU)" in line


def test_fractional_gpu_trials_spread_over_nodes_into_shared_storage(cluster, tmp_path: Path
                                                                    ) -> None:
    exp = _experiment(tmp_path, **{"resources.cpu": 0.5, "resources.gpu": 0.5,
                                   "search.num_samples": 4, "train.epochs": 2})
    storage = tmp_path / "shared"
    _ok(run_raytuner("run", str(exp), "--address", cluster.address, "--storage", str(storage),
                     "--shared-storage", "--name", "spread", timeout=RUN_TIMEOUT))
    run_dir = storage / "spread"
    trial_dirs = sorted(run_dir.glob("trial_*"))
    assert len(trial_dirs) == 4
    worker_ids = {n.node_id for n in cluster.worker_nodes}
    nodes_used = set()
    for trial_dir in trial_dirs:
        history = results(trial_dir)
        assert [r["epoch"] for r in history] == [1, 2]
        nodes_used |= {r["node_id"] for r in history}
        # every epoch's checkpoint landed in the shared storage path (checkpoint.keep = 2)
        assert sorted(p.parent.name for p in trial_dir.glob("checkpoint_*/state.pt")) == [
            "checkpoint_000000", "checkpoint_000001"]
    assert nodes_used <= worker_ids  # never the CPU-less head
    assert len(nodes_used) == 2, nodes_used


def _registered_checkpoint(run_dir: Path) -> str | None:
    """The folder name of the newest checkpoint Tune's saved state has registered for the
    run's one trial (None before Tune first saved its state, or while it replaces it)."""
    from ray.tune import ExperimentAnalysis

    if not list(run_dir.glob("experiment_state-*.json")):
        return None
    try:
        (trial,) = ExperimentAnalysis(str(run_dir)).trials
    except (OSError, ValueError):  # the state file is being replaced: read it next time
        return None
    checkpoint = trial.checkpoint
    return Path(checkpoint.path).name if checkpoint is not None else None


def test_trial_resumes_on_another_node_when_its_node_dies(cluster, tmp_path: Path) -> None:
    # Last in this module: it removes a node. The trial waits at the start of epoch 3 until
    # a gate file exists (tests/faulty.py): the node dies while the trial is certainly on it,
    # after Tune registered epoch 2's checkpoint, and before epoch 3 reported anything.
    epochs, gate = 30, tmp_path / "gate"
    exp = _experiment(tmp_path, **{"resources.cpu": 1, "resources.gpu": 1,
                                   "search.num_samples": 1, "train.epochs": epochs,
                                   "search.space": {},
                                   "model": {"name": "tests.faulty:factory", "hidden": 16,
                                             "fault": "gate", "at_epoch": 3,
                                             "gate_file": str(gate)}})
    storage = tmp_path / "shared"
    run_dir = storage / "failover"
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(
        raytuner_cmd("run", str(exp), "--address", cluster.address, "--storage", str(storage),
                     "--shared-storage", "--name", "failover"),
        cwd=REPO, env=driver_env(TUNE_GLOBAL_CHECKPOINT_S="1"), stdout=log,
        stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while _registered_checkpoint(run_dir) != "checkpoint_000001":  # epoch 2's
            assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-4000:]
            assert time.monotonic() < deadline, "Tune never registered epoch 2's checkpoint"
            time.sleep(0.5)
        (trial_dir,) = run_dir.glob("trial_*")
        history = results(trial_dir)
        assert [r["epoch"] for r in history] == [1, 2]  # and epoch 3 waits at the gate
        first_node, worker_pid = history[-1]["node_id"], history[-1]["pid"]
        victim = next(n for n in cluster.worker_nodes if n.node_id == first_node)
        # A machine that dies takes all its processes with it. remove_node kills the node's
        # Ray daemons; its worker processes notice only seconds later and report on meanwhile,
        # so the trial's worker is killed too, as the real fault would.
        cluster.remove_node(victim, allow_graceful=False)
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker_pid, signal.SIGKILL)
        gate.write_text("open\n")
        assert driver.wait(timeout=RUN_TIMEOUT) == 0, (tmp_path / "driver.log").read_text()[-4000:]
    finally:
        gate.write_text("open\n")
        if driver.poll() is None:
            driver.kill()
        log.close()

    import json

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status_counts"] == {"completed": 1}, summary["status_counts"]
    history = results(trial_dir)
    nodes = [r["node_id"] for r in history]
    # Epochs 1-2 ran on the node that died; the trial resumed on the other node from epoch 2's
    # checkpoint: every epoch once, in order, and Tune counted on rather than restarting.
    assert nodes[:2] == [first_node, first_node]
    assert all(node != first_node for node in nodes[2:]), nodes
    assert [r["epoch"] for r in history] == list(range(1, epochs + 1))
    assert history[2]["iterations_since_restore"] == 1
    assert all(r["training_iteration"] == r["epoch"] for r in history)


def test_autoscaler_adds_gpu_workers_from_zero(tmp_path: Path) -> None:
    exp = _experiment(tmp_path, **{"resources.cpu": 1, "resources.gpu": 1,
                                   "search.num_samples": 2, "train.epochs": 2})
    storage = tmp_path / "shared"
    with fake_autoscaling_cluster(tmp_path) as (gcs, env):
        before = cluster_nodes(gcs, env)
        assert len(before) == 1 and before[0]["resources"].get("CPU", 0) == 0  # the head only
        head_id = before[0]["id"]
        # one node now, but an autoscaler that may add more: local storage is refused
        line = _config_error(run_raytuner("run", str(exp), "--address", gcs, "--storage",
                                          str(storage), timeout=RUN_TIMEOUT, **env))
        assert "autoscaling cluster" in line
        _ok(run_raytuner("run", str(exp), "--address", gcs, "--storage", str(storage),
                         "--shared-storage", "--name", "scaled", timeout=RUN_TIMEOUT, **env))
    trial_dirs = sorted((storage / "scaled").glob("trial_*"))
    assert len(trial_dirs) == 2
    for trial_dir in trial_dirs:
        history = results(trial_dir)
        assert [r["epoch"] for r in history] == [1, 2]
        # the head was the only node before the run and cannot hold a trial: every epoch ran
        # on a GPU worker the autoscaler started for the experiment
        assert head_id not in {r["node_id"] for r in history}
