"""What a user sees of a real run, through the real console script: the event lines where
there is no terminal (bounded, no Ray noise, the next commands), the live view in a real
terminal (tmux), and the after-search commands on a run whose model module is gone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import REPO, tiny_experiment, write_yaml

pytestmark = pytest.mark.slow

#: the installed ``raytuner`` command: unlike ``python -m``, it does not put the current
#: folder on the import path by itself
RAYTUNER = str(Path(sys.executable).parent / "raytuner")

USER_MODEL = '''
from torch import nn


def net(input_shape, num_classes, hidden=16):
    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0] * input_shape[1]
                                                  * input_shape[2], hidden),
                         nn.ReLU(), nn.Linear(hidden, num_classes))
'''


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([RAYTUNER, *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def user_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A real run of a model named by import path, started in the folder that holds it, with
    no PYTHONPATH, its output captured (not a terminal)."""
    folder = tmp_path_factory.mktemp("userfolder")
    (folder / "mymodels.py").write_text(USER_MODEL)
    exp = tiny_experiment(**{"name": "mine", "model": {"name": "mymodels:net", "hidden": 16},
                             "train.epochs": 2, "search.algorithm": "random",
                             "search.space": {"model.hidden": {"choice": [8, 16]},
                                              "train.lr": {"loguniform": [1e-3, 1e-2]}}})
    exp["search"].pop("n_initial_points")
    write_yaml(folder / "mine.yaml", exp)
    result = _cli("run", "mine.yaml", "--storage", "runs", cwd=folder, timeout=600)
    return folder, result


def test_non_terminal_output_of_a_run_is_event_lines_without_ray_noise(user_run) -> None:
    folder, result = user_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout + result.stderr
    for noise in ("Traceback", "Configuration for experiment", "tensorboard --logdir",
                  "Token authentication", "View detailed results", "SystemExit"):
        assert noise not in out
    assert "/tmp/ray" not in out and "ray_results" not in out  # Ray's own folders
    assert "\x1b" not in out  # no redraw or colour codes
    lines = result.stdout.splitlines()
    assert len(lines) <= 80
    assert lines[0].startswith("raytuner: running mine: 4 trials")
    assert sum(" started: " in line for line in lines) == 4
    ended = [line for line in lines if re.search(r"trial \S+ (completed|stopped at)", line)]
    assert len(ended) == 4
    assert any("new best: trial" in line for line in lines)
    assert "best and last epoch" in result.stdout or "last epoch (" in result.stdout
    for command in ("tensorboard", "report", "export"):
        assert f"  raytuner {command} runs/mine" in lines or \
            f"  raytuner {command} runs/mine --out runs/mine/export" in lines
    # The full Ray log stays in the run folder.
    assert any((folder / "runs" / "mine" / "logs" / "ray-session").glob("raylet.*"))


def test_best_status_and_report_need_no_model_module(user_run) -> None:
    folder, result = user_run
    assert result.returncode == 0, result.stderr[-3000:]
    (folder / "mymodels.py").unlink()
    shutil.rmtree(folder / "__pycache__", ignore_errors=True)

    best = _cli("best", "runs/mine", cwd=folder)
    assert best.returncode == 0, best.stderr
    assert best.stdout.startswith("best trial ") and "metrics of the last epoch" in best.stdout

    status = _cli("status", "runs/mine", cwd=folder)
    assert status.returncode == 0, status.stderr
    assert "finished in" in status.stdout
    assert re.search(r"\b4 completed|\b\d stopped", status.stdout)
    assert all(len(line) <= 80 for line in status.stdout.splitlines())

    export = _cli("export", "runs/mine", "--out", "exported", cwd=folder)
    assert export.returncode == 2
    message = export.stderr.strip().splitlines()
    assert len(message) == 1 and "'mymodels'" in message[0] and "PYTHONPATH" in message[0]
    assert not (folder / "exported").exists()


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout


def _wait_screen(socket: str, predicate, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = _tmux(socket, "capture-pane", "-p", "-t", "run")
        if predicate(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"screen never matched; last:\n{screen}")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_terminal_view_is_redrawn_in_place(tmp_path: Path) -> None:
    # A user model in the current folder whose epoch 2 waits for a gate file: the run is
    # certainly still going while `raytuner status` reads its folder.
    shutil.copy(REPO / "tests" / "faulty.py", tmp_path / "faulty.py")
    gate = tmp_path / "gate"
    exp = tiny_experiment(**{"name": "live", "train.epochs": 3, "search.num_samples": 4,
                             "model": {"name": "faulty:factory", "hidden": 16,
                                       "fault": "gate", "at_epoch": 2,
                                       "gate_file": str(gate)}})
    exp["search"]["space"] = {"train.lr": {"loguniform": [1e-3, 1e-2]}}
    write_yaml(tmp_path / "live.yaml", exp)
    socket = f"raytuner-test-{uuid.uuid4().hex[:8]}"
    _tmux(socket, "new-session", "-d", "-s", "run", "-x", "80", "-y", "40", "-c",
          str(tmp_path), "env", "-u", "PYTHONPATH", "bash", "--norc", "--noprofile")
    try:
        _tmux(socket, "send-keys", "-t", "run",
              f"{RAYTUNER} run live.yaml --storage runs; echo RUN-EXIT=$?", "Enter")
        epochs = re.compile(r"epochs .* (\d+)/~?\d+")
        first = _wait_screen(socket, lambda s: "running" in s and epochs.search(s), 300)
        done = int(epochs.search(first).group(1))
        # `raytuner status` draws the same view from the folder of the run still going.
        state = tmp_path / "runs" / "live"
        deadline = time.monotonic() + 120
        while not any(state.glob("experiment_state-*.json")):
            assert time.monotonic() < deadline, "Ray never saved its experiment state"
            time.sleep(0.2)
        status = _cli("status", "runs/live", cwd=tmp_path)
        gate.touch()
        # The same view, later: more epochs done, drawn over the first.
        second = _wait_screen(socket, lambda s: (m := epochs.search(s)) is not None
                              and int(m.group(1)) > done, 300)
        assert second != first
        final = _wait_screen(socket, lambda s: re.search(r"RUN-EXIT=\d", s), 300)
        history = _tmux(socket, "capture-pane", "-p", "-t", "run", "-S", "-")
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=30)
    (tmp_path / "screen.txt").write_text(history)  # for a look after a failure
    assert "RUN-EXIT=0" in final
    assert status.returncode == 0, status.stderr
    assert "raytuner live  val_accuracy (max)" in status.stdout and "elapsed" in status.stdout
    # One view changed in place: its header and bars appear once in the whole scrollback.
    assert history.count("raytuner live  val_accuracy (max)") == 1
    assert len(re.findall(r"^trials ", history, re.M)) == 1
    assert "finished in" in history
    for word in ("pending", "running", "completed", "stopped", "errored", "diverged"):
        assert word in history
    assert "raytuner tensorboard runs/live" in history
    assert all(len(line) <= 80 for line in history.splitlines())
