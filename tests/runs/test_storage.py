"""Storage locations: defaults, URIs through pyarrow, writability and free space checked before Ray
starts, the shared-storage rule, and a whole run written through a ``file://`` URI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, tiny_experiment, write_yaml

from raytuner.errors import ConfigError
from raytuner.runs import storage


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300
         ) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "raytuner", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=full_env)


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("raytuner: error:"), result.stderr
    assert "Ray" not in result.stdout  # nothing ran
    return lines[0]


def test_default_storage_is_env_then_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(storage.ENV_STORAGE, raising=False)
    assert storage.default_storage(None) == "runs"
    monkeypatch.setenv(storage.ENV_STORAGE, "s3://bucket/runs")
    assert storage.default_storage(None) == "s3://bucket/runs"
    assert storage.default_storage("elsewhere") == "elsewhere"


def test_resolve_storage_paths_and_uris(tmp_path: Path) -> None:
    local = storage.resolve_storage(tmp_path / "runs")
    assert local.is_path and local.on_this_machine and local.uri == str(tmp_path / "runs")
    uri = storage.resolve_storage(f"file://{tmp_path}/runs/")
    assert not uri.is_path and uri.on_this_machine and uri.fs_path == f"{tmp_path}/runs"
    assert uri.child("exp") == f"file://{tmp_path}/runs/exp"
    with pytest.raises(ConfigError, match="bogus://bucket/runs.*s3://bucket/runs"):
        storage.resolve_storage("bogus://bucket/runs")


def test_shared_rule_refuses_local_storage_on_more_than_one_node(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--shared-storage") as info:
        storage.check_shared(str(tmp_path), shared=False, nodes_count=3)
    assert str(tmp_path) in str(info.value) and "3 nodes" in str(info.value)
    with pytest.raises(ConfigError, match="autoscaling"):
        storage.check_shared(str(tmp_path), shared=False, can_grow=True, nodes_count=1)
    with pytest.raises(ConfigError):  # a file:// URI is just as local
        storage.check_shared(f"file://{tmp_path}", shared=False, nodes_count=2)
    storage.check_shared(str(tmp_path), shared=True, nodes_count=3)
    storage.check_shared(str(tmp_path), shared=False, nodes_count=1)


def test_run_refuses_storage_under_a_file_before_ray_starts(tmp_path: Path) -> None:
    exp = write_yaml(tmp_path / "exp.yaml", tiny_experiment())
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    line = _one_line_error(_cli("run", str(exp), "--storage", str(blocker / "runs")))
    assert str(blocker) in line and "not writable" in line
    # the same through $RAYTUNER_STORAGE, and through a file:// URI (pyarrow's filesystem)
    line = _one_line_error(_cli("run", str(exp), env={storage.ENV_STORAGE: str(blocker)}))
    assert str(blocker) in line
    line = _one_line_error(_cli("run", str(exp), "--storage", f"file://{blocker}/runs"))
    assert f"file://{blocker}/runs" in line and "not writable" in line
    assert blocker.read_text() == "x"


def test_run_refuses_storage_with_too_little_free_space(tmp_path: Path) -> None:
    exp = write_yaml(tmp_path / "exp.yaml", tiny_experiment())
    # No disk here is a petabyte: the real free space of tmp_path's disk is below it.
    result = _cli("run", str(exp), "--storage", str(tmp_path / "runs"),
                  env={storage.ENV_MIN_FREE: "1000000"})
    line = _one_line_error(result)
    assert str(tmp_path / "runs") in line and "GiB free" in line
    assert not (tmp_path / "runs").exists()


def test_unreachable_s3_storage_is_a_config_error(tmp_path: Path) -> None:
    exp = write_yaml(tmp_path / "exp.yaml", tiny_experiment())
    # A real S3 client against a closed port: refused before Ray starts.
    uri = "s3://bucket/runs?region=us-east-1&endpoint_override=127.0.0.1:1&scheme=http"
    line = _one_line_error(_cli("run", str(exp), "--storage", uri, timeout=120))
    assert "s3://bucket/runs" in line and "cannot be read" in line


@pytest.mark.slow
def test_run_through_a_uri_writes_everything_to_storage(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    exp = write_yaml(tmp_path / "exp.yaml", tiny_experiment(**{
        "search.num_samples": 2, "train.epochs": 2, "search.scheduler": {"name": "fifo"}}))
    remote = tmp_path / "bucket"
    uri = f"file://{remote}/runs"
    env = {storage.ENV_MIRRORS: str(tmp_path / "mirrors")}
    monkeypatch.setenv(storage.ENV_MIRRORS, env[storage.ENV_MIRRORS])
    result = _cli("run", str(exp), "--storage", uri, "--name", "u", env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_folder = remote / "runs" / "u"
    summary = json.loads((run_folder / "summary.json").read_text())
    assert (run_folder / "experiment.yaml").is_file()
    assert summary["run_dir"] == f"{uri}/u" and len(summary["trials"]) == 2
    for trial in summary["trials"]:
        assert trial["checkpoint"].startswith(f"{uri}/u/trial_")
        local = Path(trial["checkpoint"].removeprefix("file://"), "state.pt")
        assert local.is_file()  # written by Ray Tune straight to the storage URI
    # the mirror holds the small files, not the checkpoints
    mirror = storage.mirror_dir(f"{uri}/u")
    assert mirror.is_relative_to(tmp_path / "mirrors") and (mirror / "summary.json").is_file()
    assert not list(mirror.glob("trial_*/checkpoint_*"))

    best = _cli("best", f"{uri}/u", "--json", env=env)
    assert best.returncode == 0, best.stderr
    assert json.loads(best.stdout)["checkpoint"] == summary["best"]["checkpoint"]

    again = _one_line_error(_cli("run", str(exp), "--storage", uri, "--name", "u", env=env))
    assert "already exists" in again and f"{uri}/u" in again
