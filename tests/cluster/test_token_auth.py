"""Token authentication as clusters/local.yaml sets it up: the head started with
``RAY_AUTH_MODE=token`` and the shared secret at ``~/.ray/auth_token`` (mode 600). A driver
without the token is refused; raytuner with it connects and runs.

Never the real ``~/.ray``: every process here gets a temporary ``HOME`` of its own, which is
where Ray looks for ``~/.ray/auth_token``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import REPO, tiny_experiment, write_yaml
from multinode_support import (
    driver_env,
    free_port,
    kill_session,
    run_raytuner,
    short_temp_dir,
)

pytestmark = pytest.mark.slow

LOCAL_YAML = REPO / "clusters" / "local.yaml"


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = driver_env(HOME=str(home), **extra)
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        if key not in extra:
            env.pop(key, None)
    return env


def test_local_yaml_turns_token_auth_on_with_the_token_in_home() -> None:
    config = yaml.safe_load(LOCAL_YAML.read_text())
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    head = " ".join(config["head_start_ray_commands"])
    assert "export RAY_AUTH_MODE=token;" in head and "ray start --head" in head
    assert "chmod 600 ~/.ray/auth_token" in " ".join(config["setup_commands"])


@pytest.fixture(scope="module")
def token_cluster(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A head started the way clusters/local.yaml starts it, on private ports; yields its
    address and the HOME that holds its token."""
    home = tmp_path_factory.mktemp("head-home")
    (home / ".ray").mkdir()
    token = home / ".ray" / "auth_token"
    token.write_text(secrets.token_hex(32))  # what `ray get-auth-token --generate` makes
    token.chmod(0o600)
    port = free_port()
    temp_dir = short_temp_dir("rta")
    env = _clean_env(home, RAY_AUTH_MODE="token", RAY_TMPDIR=temp_dir)
    log = (home / "ray-start.log").open("w")
    start = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", f"--port={port}",
         "--num-cpus=1", "--num-gpus=0", f"--temp-dir={temp_dir}", "--include-dashboard=false",
         "--node-ip-address=127.0.0.1", f"--dashboard-port={free_port()}",
         f"--ray-client-server-port={free_port()}",
         f"--dashboard-agent-listen-port={free_port()}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if start.wait(timeout=180) != 0:
            pytest.fail(f"ray start failed:\n{(home / 'ray-start.log').read_text()}")
        yield f"127.0.0.1:{port}", home
    finally:
        kill_session(start.pid)
        log.close()


def test_driver_without_the_token_is_refused(token_cluster, tmp_path: Path) -> None:
    address, _ = token_cluster
    stranger = tmp_path / "stranger-home"  # no ~/.ray/auth_token there
    stranger.mkdir()
    code = (f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
            "print('CONNECTED', ray.cluster_resources())")
    for env in (_clean_env(stranger),  # nothing set: the token of this HOME (none)
                _clean_env(stranger, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64)):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=180, env=env)
        assert out.returncode != 0 and "CONNECTED" not in out.stdout, out.stdout + out.stderr
        assert "token" in (out.stdout + out.stderr).lower(), (out.stdout + out.stderr)[-2000:]


def test_raytuner_with_the_token_connects_and_runs(token_cluster, tmp_path: Path) -> None:
    address, home = token_cluster
    exp = write_yaml(tmp_path / "exp.yaml", tiny_experiment(**{
        "name": "auth", "search.num_samples": 1, "train.epochs": 1,
        "search.algorithm": "random", "search.scheduler": {"name": "fifo"}}))
    env = _clean_env(home, RAY_AUTH_MODE="token")
    result = run_raytuner("run", str(exp), "--address", address, "--storage",
                          str(tmp_path / "runs"), timeout=600,
                          **{k: v for k, v in env.items() if k in ("HOME", "RAY_AUTH_MODE")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((tmp_path / "runs" / "auth" / "summary.json").read_text())
    assert summary["num_trials"] == 1 and summary["trials"][0]["status"] == "completed"
    assert os.environ.get("HOME") != str(home)  # this process's own HOME was never changed
