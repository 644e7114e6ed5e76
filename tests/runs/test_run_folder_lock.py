"""One driver per run folder: the OS lock of a folder on disk and the renewed lease of a run
folder on object storage (a real S3 API: moto's server on 127.0.0.1), refusals and takeovers.

A driver that holds a lock is a real second process here (``python -c`` holding the lock the
way ``raytuner run`` does); the end-to-end refusal of ``raytuner resume`` next to a real running
``raytuner run`` is in tests/runs/test_crashes_and_resumes.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs
import pytest
from conftest import REPO, run_cli

from raytuner.errors import ConfigError
from raytuner.files import resolve_location
from raytuner.runs.lock import Holder, Lease, hold_existing_run, hold_new_run, lock_for

HOLD = """
import sys, time
from raytuner.runs.lock import hold_new_run
with hold_new_run(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


@contextlib.contextmanager
def holder_process(storage: str, name: str, env: dict | None = None
                   ) -> Iterator[subprocess.Popen]:
    """A second process holding the lock of ``storage/name`` until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, storage, name], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    try:
        line = proc.stdout.readline()
        assert line.strip() == "held", line + proc.stdout.read()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_second_driver_is_refused_while_a_driver_holds_the_folder(tmp_path: Path) -> None:
    storage = tmp_path / "runs"
    (storage / "exp").mkdir(parents=True)
    with holder_process(str(storage), "exp") as proc:
        with pytest.raises(ConfigError) as caught, hold_existing_run(storage / "exp"):
            pass
        message = str(caught.value)
        assert f"pid {proc.pid} on host {socket.gethostname()}" in message
        assert str(storage / "exp") in message and "wait for that run to end" in message
        # the real command: one line, exit 2, the run folder untouched
        result = run_cli("resume", str(storage / "exp"), timeout=120)
        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pid {proc.pid}" in lines[0], result.stderr
        assert list((storage / "exp").iterdir()) == []


def test_lock_of_a_killed_driver_is_taken_over_with_a_line_saying_so(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    storage = tmp_path / "runs"
    with holder_process(str(storage), "exp") as proc:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    with hold_new_run(storage, "exp"):
        out = capsys.readouterr().out
        assert f"locked by pid {proc.pid}" in out and "taking it over" in out
    with hold_new_run(storage, "exp"):  # released cleanly: nothing to take over
        assert "taking it over" not in capsys.readouterr().out


def test_one_process_cannot_hold_a_folder_twice(tmp_path: Path) -> None:
    # `run --resume` locks once and resumes inside the lock; a nested lock would refuse itself.
    with (hold_new_run(tmp_path, "exp"), pytest.raises(ConfigError, match="in use by pid"),
          hold_new_run(tmp_path, "exp")):
        pass


# ---------------------------------------------------------------------------------------------
# Object storage: a lease on a real S3 API


@pytest.fixture(scope="module")
def s3_storage(tmp_path_factory) -> Iterator[str]:
    """``s3://lockbucket/runs?...`` served by moto's S3 server on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    keys = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert time.monotonic() < deadline, "moto's S3 server did not start"
            time.sleep(0.2)
        uri = f"s3://lockbucket/runs?region=us-east-1&endpoint_override=127.0.0.1:{port}" \
              "&scheme=http"
        pyarrow.fs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http",
                                region="us-east-1", allow_bucket_creation=True
                                ).create_dir("lockbucket")
        yield uri
    finally:
        server.kill()
        server.wait(timeout=30)
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _lease(uri: str, name: str, **kwargs) -> Lease:
    lease = lock_for(resolve_location(uri), name)
    assert isinstance(lease, Lease)  # object storage: a lease, not an OS lock
    for key, value in kwargs.items():
        setattr(lease, key, value)
    return lease


def _write_record(uri: str, name: str, holder: Holder) -> None:
    lease = _lease(uri, name)
    with lease.filesystem.open_output_stream(lease.path) as out:
        out.write(holder.dump().encode())


def test_lease_refuses_a_second_driver_and_is_renewed(s3_storage: str) -> None:
    first = _lease(s3_storage, "renewed", ttl_s=2.0, settle_s=0.2)
    first.acquire()
    try:
        assert "s3://lockbucket/runs/renewed" in first.run_folder
        taken = first.read()
        assert taken.token == first.token and taken.pid == os.getpid()
        with pytest.raises(ConfigError, match=r"in use by pid \d+ on host .*lease renewed"):
            _lease(s3_storage, "renewed", settle_s=0.2).acquire()
        deadline = time.monotonic() + 10  # renewed every ttl/4 = 0.5 s
        while first.read().renewed <= taken.renewed:
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.1)
    finally:
        first.release()
    assert first.read() is None  # released: the lease file is gone
    second = _lease(s3_storage, "renewed", settle_s=0.2)
    second.acquire()
    second.release()


def test_lease_not_renewed_in_time_is_taken_over(s3_storage: str,
                                                 capsys: pytest.CaptureFixture) -> None:
    # A driver on another host (a host name that is not this one: its pid cannot be checked
    # here) that stopped renewing 120 s ago, with leases valid for 60 s.
    old = time.time() - 120
    _write_record(s3_storage, "stale", Holder("gpu-node-7", 4242, old - 600, old, "x" * 32))
    live = _lease(s3_storage, "stale", ttl_s=60.0, settle_s=0.2)
    live.acquire()
    try:
        out = capsys.readouterr().out
        assert "leased by pid 4242 on host gpu-node-7" in out
        assert "last renewed 120 s ago (valid for 60 s); taking it over" in out
        assert live.read().token == live.token
    finally:
        live.release()
    # the same record renewed a moment ago: valid, refused
    _write_record(s3_storage, "fresh", Holder("gpu-node-7", 4242, old, time.time(), "y" * 32))
    with pytest.raises(ConfigError, match="gpu-node-7"):
        _lease(s3_storage, "fresh", settle_s=0.2).acquire()


def test_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(
        s3_storage: str, capsys: pytest.CaptureFixture) -> None:
    with holder_process(s3_storage, "dead", env={"RAYTUNER_LEASE_TTL_S": "600"}) as proc:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    lease = _lease(s3_storage, "dead", settle_s=0.2)
    lease.acquire()  # renewed a moment ago, but its process is gone
    try:
        out = capsys.readouterr().out
        assert f"leased by pid {proc.pid}" in out and "which is no longer running" in out
    finally:
        lease.release()


def test_driver_whose_lease_was_taken_knows_it_lost_it(s3_storage: str) -> None:
    first = _lease(s3_storage, "lost", ttl_s=600.0, settle_s=0.2)
    first.acquire()
    try:
        other = Holder("gpu-node-8", 99, time.time(), time.time(), "z" * 32)
        _write_record(s3_storage, "lost", other)
        assert first.renew() is False and first.lost
        assert first.read().host == "gpu-node-8"
    finally:
        first.release()
    assert first.read().host == "gpu-node-8"  # not ours: left alone


def test_resume_of_a_leased_uri_run_is_refused_in_one_line(s3_storage: str) -> None:
    with holder_process(s3_storage, "cli") as proc:
        base, _, query = s3_storage.partition("?")
        result = run_cli("resume", f"{base}/cli?{query}", timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"in use by pid {proc.pid}" in lines[0], result.stderr


def test_lock_file_sits_beside_the_run_folder_so_overwrite_keeps_it(tmp_path: Path) -> None:
    lock = lock_for(resolve_location(str(tmp_path)), "exp")
    assert Path(lock.path) == tmp_path / ".exp.lock"
    assert isinstance(resolve_location(str(tmp_path)).filesystem, pyarrow.fs.LocalFileSystem)
