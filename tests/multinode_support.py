"""Local multi-node Ray clusters for tests: a private Ray temp root, the `raytuner` command run as
a separate driver against a cluster, and Ray's fake multi-node autoscaler started in its own process
session (and stopped by killing exactly that session: never `ray stop`, which would stop every Ray
process on the machine)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from conftest import REPO

GPU_YAML = REPO / "clusters" / "gpu.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def short_temp_dir(prefix: str) -> str:
    # Ray's Unix sockets live under the temp dir: keep the path short (108-byte limit).
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


def raytuner_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "raytuner", *args]


def driver_env(**extra: str) -> dict[str, str]:
    """Environment of a `raytuner` driver process: this checkout first on the path."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


def run_raytuner(*args: str, timeout: float, **env: str) -> subprocess.CompletedProcess:
    """Run the real `raytuner` command as its own driver process."""
    return subprocess.run(raytuner_cmd(*args), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=driver_env(**env))


def results(trial_dir: Path) -> list[dict[str, Any]]:
    """Every result a trial reported, in order (Tune's result.json, one JSON per line)."""
    path = trial_dir / "result.json"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):  # a line being written
            out.append(json.loads(line))
    return out


# ---------------------------------------------------------------------------------------------
# Ray's fake multi-node provider


def fake_launcher_config(gcs_address: str, *, max_per_type: int, max_workers: int
                         ) -> dict[str, Any]:
    """A fake_multinode launcher config whose worker types mirror clusters/gpu.yaml's (same
    names, CPUs and logical GPUs, min_workers 0), with a CPU-less head."""
    gpu = yaml.safe_load(GPU_YAML.read_text(encoding="utf-8"))
    types: dict[str, Any] = {"ray.head.default": {"resources": {"CPU": 0}, "node_config": {},
                                                  "max_workers": 0}}
    for name, spec in gpu["available_node_types"].items():
        if name == gpu["head_node_type"]:
            continue
        types[name] = {"resources": dict(spec["resources"]), "node_config": {},
                       "min_workers": 0, "max_workers": min(spec["max_workers"], max_per_type)}
    return {
        "cluster_name": "raytuner-fake", "max_workers": max_workers, "upscaling_speed": 1.0,
        "idle_timeout_minutes": 5,
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True,
                     "disable_node_updaters": True, "disable_launch_config_check": True,
                     "gcs_address": gcs_address},
        "auth": {"ssh_user": "ubuntu"},
        "available_node_types": types, "head_node_type": "ray.head.default",
        "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
        "rsync_exclude": [], "rsync_filter": [], "initialization_commands": [],
        "setup_commands": [], "head_setup_commands": [], "worker_setup_commands": [],
        "head_start_ray_commands": [], "worker_start_ray_commands": [],
    }


def _session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def kill_session(sid: int, timeout: float = 30) -> None:
    """SIGKILL every process of session ``sid`` (Ray's daemons ignore SIGTERM at times)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = _session_pids(sid)
        if not pids or time.monotonic() > deadline:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


@contextlib.contextmanager
def fake_autoscaling_cluster(folder: Path, *, max_per_type: int = 2, max_workers: int = 2
                             ) -> Iterator[tuple[str, dict[str, str]]]:
    """Start `RAY_FAKE_CLUSTER=1 ray start --head --num-cpus=0 --autoscaling-config=FILE` on
    private ports and a private temp dir, in its own session; yield (GCS address, env a driver
    needs); kill the session's processes on exit."""
    import ray

    ip = ray._private.services.get_node_ip_address()
    port = free_port()
    gcs = f"{ip}:{port}"
    config = folder / "fake-cluster.yaml"
    config.write_text(yaml.safe_dump(fake_launcher_config(
        gcs, max_per_type=max_per_type, max_workers=max_workers), sort_keys=False))
    temp_dir = short_temp_dir("rtf")
    # Token authentication as on a real cluster (clusters/gpu.yaml); the token is ~/.ray's.
    env = driver_env(RAY_FAKE_CLUSTER="1", AUTOSCALER_UPDATE_INTERVAL_S="1",
                     RAY_AUTH_MODE="token", RAY_TMPDIR=temp_dir)
    log = (folder / "ray-start.log").open("w")
    start = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--num-cpus=0",
         f"--port={port}", f"--temp-dir={temp_dir}", "--include-dashboard=false",
         f"--dashboard-port={free_port()}", f"--ray-client-server-port={free_port()}",
         f"--dashboard-agent-listen-port={free_port()}", f"--autoscaling-config={config}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if start.wait(timeout=180) != 0:
            raise RuntimeError(f"ray start failed:\n{(folder / 'ray-start.log').read_text()}")
        yield gcs, {"RAY_AUTH_MODE": "token", "RAY_TMPDIR": temp_dir}
    finally:
        kill_session(start.pid)
        log.close()


def cluster_nodes(gcs: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """Alive nodes of the cluster at ``gcs`` as seen by a separate driver process."""
    code = (f"import json, ray; ray.init(address={gcs!r}, logging_level='ERROR'); "
            "print(json.dumps([{'id': n['NodeID'], 'resources': n['Resources']} "
            "for n in ray.nodes() if n['Alive']]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=driver_env(**env), check=True)
    # Ray may print its own lines to stdout (connection notices): take the JSON line
    lines = [line for line in out.stdout.splitlines() if line.startswith("[")]
    assert lines, f"no node list from the driver: {out.stdout[-2000:]!r} {out.stderr[-2000:]!r}"
    return json.loads(lines[-1])
