"""End to end: the live TensorBoard view of a real run interrupted with Ctrl-C and resumed,
its rebuild, ``raytuner tensorboard`` in a real browser, and a non-local storage filesystem."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli, tiny_experiment, write_yaml
from tb_helpers import all_series, load, reported_by_epoch, scalars, sessions

from raytuner.tensorboard import layout

VAL_ACCURACY = layout.metric_tag("val_accuracy")

pytestmark = pytest.mark.slow

# Ray workers import the user model `tests.faulty` by import path: they need the repo root.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
FAULTY = "tests.faulty:factory"

ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module", autouse=True)
def own_ray_instance():
    """Each Ray start in this module gets a new local instance: without an address,
    ``ray.init()`` joins the latest cluster that ``ray start`` left on this machine."""
    old = os.environ.get("RAY_ADDRESS")
    os.environ["RAY_ADDRESS"] = "local"
    yield
    if old is None:
        os.environ.pop("RAY_ADDRESS", None)
    else:
        os.environ["RAY_ADDRESS"] = old


def _checkpoints_written(run_dir: Path) -> int:
    """The most epochs any trial of the run has a checkpoint for (Ray names them from 0)."""
    return max((int(p.name.rsplit("_", 1)[1]) + 1 for p in run_dir.glob("trial_*/checkpoint_*")
                if (p / "state.pt").is_file()), default=0)


def _unfinished_trials(run_dir: Path) -> list[str]:
    """Trials Tune's saved state lists as not finished."""
    state = json.loads(max(run_dir.glob("experiment_state-*.json")).read_text())
    trials = [json.loads(trial) for trial, _ in state["trial_data"]]
    return [t["trial_id"] for t in trials if t["status"] != "TERMINATED"]


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory) -> Path:
    """A real run stopped with Ctrl-C (SIGINT) after a known checkpoint, then `raytuner resume`d.

    Every trial waits at the start of epoch 3 until a gate file exists (tests/faulty.py), so
    the run is certainly still running when the signal comes; the gate opens before resume.
    """
    tmp = tmp_path_factory.mktemp("tb")
    gate = tmp / "gate"
    exp = tiny_experiment(**{
        "train.epochs": 4, "search.num_samples": 3, "train.batch_size": 256,
        "model": {"name": FAULTY, "hidden": 16, "fault": "gate", "at_epoch": 3,
                  "gate_file": str(gate)}})
    exp["search"]["space"] = {"train.lr": {"loguniform": [1.0e-3, 1.0e-2]},
                              "model.hidden": {"choice": [8, 16]}}
    path = write_yaml(tmp / "tiny.yaml", exp)
    run_dir = tmp / "runs" / "tb"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "raytuner", "run", str(path), "--storage", str(tmp / "runs"),
         "--name", "tb"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    try:
        deadline = time.monotonic() + 300
        while _checkpoints_written(run_dir) < 2:  # a trial holds epoch 2's checkpoint
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the run wrote no checkpoint of epoch 2"
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does: Ray saves its state and stops
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-3000:]  # interrupted, not finished
    assert f"raytuner resume {run_dir}" in out, out[-3000:]
    assert not (run_dir / "summary.json").exists()
    assert _unfinished_trials(run_dir), "Ctrl-C came after every trial had finished"
    gate.write_text("open\n")
    resumed = run_cli("resume", str(run_dir), timeout=400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    return run_dir


def test_live_view_matches_reported_results_after_resume(resumed_run: Path) -> None:
    summary = json.loads((resumed_run / "summary.json").read_text())
    mux = load(resumed_run / "tensorboard")
    for series, steps in all_series(mux).items():
        assert len(steps) == len(set(steps)), f"duplicate steps in {series}: {steps}"
    found = sessions(mux)
    assert set(found) == {t["trial_id"] for t in summary["trials"]}  # one session per trial
    for trial in summary["trials"]:
        session = found[trial["trial_id"]]
        run = session["run"]
        assert session["ended"]
        assert session["hparams"]["train.lr"] == pytest.approx(trial["config"]["train.lr"])
        status = scalars(mux, run, layout.STATUS_TAG)[-1][1]
        assert layout.STATUS_NAMES[int(status)] == trial["status"]
        reported = reported_by_epoch(Path(trial["path"]))
        for name in ("val_accuracy", "val_loss", "train_loss", "train_accuracy", "lr"):
            written = dict(scalars(mux, run, layout.metric_tag(name)))
            assert written == {e: pytest.approx(r[name], rel=1e-6) for e, r in reported.items()}
    # Ray's own TensorBoard logger is off: no second copy of the curves in the trial folders.
    assert not list(resumed_run.glob("trial_*/events.out.tfevents*"))
    total = sum(t["epochs"] for t in summary["trials"])
    curve = scalars(mux, "experiment", layout.search_tags("val_accuracy")[0])
    assert [s for s, _ in curve] == list(range(1, total + 1))
    assert curve[-1][1] == pytest.approx(summary["best"]["best"], rel=1e-6)


def test_rebuild_writes_the_same_view_afresh(resumed_run: Path) -> None:
    from raytuner.tensorboard.rebuild import rebuild

    live = load(resumed_run / "tensorboard")
    live_sessions = sessions(live)
    rebuild(str(resumed_run))
    rebuilt = load(resumed_run / "tensorboard")
    for run in rebuilt.Runs():  # fresh files: one per run, none appended to
        assert len(list((resumed_run / "tensorboard" / run).glob("events.out.*"))) == 1
    assert {k: v["run"] for k, v in sessions(rebuilt).items()} == \
        {k: v["run"] for k, v in live_sessions.items()}
    for trial_id, session in live_sessions.items():
        for tag in (VAL_ACCURACY, "train/loss", layout.STATUS_TAG, "best/val_accuracy"):
            assert scalars(rebuilt, session["run"], tag) == scalars(live, session["run"], tag), \
                (trial_id, tag)
    # Ray stamps results in whole seconds, so results of parallel trials within one second
    # may be replayed in another order: the anytime curve has the same steps and end.
    curve = scalars(rebuilt, "experiment", layout.search_tags("val_accuracy")[0])
    live_curve = scalars(live, "experiment", layout.search_tags("val_accuracy")[0])
    assert [s for s, _ in curve] == [s for s, _ in live_curve]
    assert curve[-1] == live_curve[-1]
    assert [v for _, v in curve] == sorted(v for _, v in curve)
    counts = {tag: scalars(rebuilt, "experiment", f"trials/{tag}")[-1][1]
              for tag in layout.STATUS_TAGS}
    assert counts == {tag: scalars(live, "experiment", f"trials/{tag}")[-1][1]
                      for tag in layout.STATUS_TAGS}
    for series, steps in all_series(rebuilt).items():
        assert len(steps) == len(set(steps)), series


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _deep_text(driver) -> str:
    """All text of the page, inside shadow roots too (TensorBoard is built of web components)."""
    return driver.execute_script("""
        function walk(node, out) {
          if (node.nodeType === 3) out.push(node.textContent);
          if (node.shadowRoot) walk(node.shadowRoot, out);
          for (const child of node.childNodes) walk(child, out);
          return out;
        }
        return walk(document.body, []).join(' ');""")


def _session_groups(driver) -> list[str]:
    """Names of the session groups, asked from the page the way its dashboard asks."""
    return driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch('data/plugin/hparams/session_groups', {method: 'POST',
          headers: {'Content-Type': 'application/json'},
          body: JSON.stringify({experimentName: '', startIndex: 0, sliceSize: 1000,
            allowedStatuses: ['STATUS_UNKNOWN', 'STATUS_SUCCESS', 'STATUS_FAILURE',
                              'STATUS_RUNNING'], colParams: []})})
          .then(r => r.json()).then(j => done(j.sessionGroups.map(g => g.name)))
          .catch(e => done(['error: ' + e]));""")


def _text_box(driver, text: str) -> dict | None:
    """Viewport box of the innermost element (inside shadow roots too) whose text is ``text``."""
    return driver.execute_script("""
        const wanted = arguments[0];
        function find(node) {
          for (const child of [...(node.shadowRoot ? [node.shadowRoot] : []),
                               ...node.children]) {
            const hit = find(child);
            if (hit) return hit;
          }
          return node.textContent && node.textContent.trim() === wanted ? node : null;
        }
        const hit = find(document.body);
        if (!hit || !hit.getBoundingClientRect) return null;
        const r = hit.getBoundingClientRect();
        return {x: r.x, y: r.y, width: r.width, height: r.height};""", text)


def _check_screenshot(png: Path, boxes: dict[str, dict]) -> None:
    """The saved picture shows TensorBoard (its orange bar) and, where the page placed each
    trial id, dark text on a light background: the table was on screen, not just in the DOM."""
    from PIL import Image

    image = Image.open(png).convert("RGB")
    width, height = image.size
    assert width >= 1200 and height >= 600, image.size
    bar = [image.getpixel((x, 10)) for x in range(0, width, 10)]
    orange = [p for p in bar if p[0] > 200 and 90 < p[1] < 160 and p[2] < 60]
    assert len(orange) > 0.8 * len(bar), bar[:5]
    for trial_id, box in boxes.items():
        assert box["width"] > 0 and box["y"] >= 0 and box["y"] + box["height"] <= height, \
            (trial_id, box)
        crop = image.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]) + 1,
                           int(box["y"] + box["height"]) + 1)).convert("L")
        darkest, lightest = crop.getextrema()
        assert darkest < 110 and lightest > 200, (trial_id, crop.getextrema())


def test_tensorboard_command_shows_every_trial_in_the_browser(resumed_run: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    summary = json.loads((resumed_run / "summary.json").read_text())
    trial_ids = {t["trial_id"] for t in summary["trials"]}
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "raytuner", "tensorboard", str(resumed_run), "--port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    driver = None
    try:
        url = None
        for line in server.stdout:  # the command prints the URL once it serves
            match = re.search(r"TensorBoard (http://\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url == f"http://127.0.0.1:{port}/", url
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--no-first-run", f"--user-data-dir={tempfile.mkdtemp()}",
                     "--window-size=1600,1000"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.set_script_timeout(60)
        driver.get(url + "#hparams")
        deadline = time.monotonic() + 90
        while not all(t in _deep_text(driver) for t in trial_ids):
            assert time.monotonic() < deadline, "the HParams table never listed every trial"
            time.sleep(1)
        assert set(_session_groups(driver)) == trial_ids
        boxes = {t: _text_box(driver, t) for t in sorted(trial_ids)}
        assert all(boxes.values()), boxes
        ARTIFACTS.mkdir(exist_ok=True)
        png = ARTIFACTS / "tensorboard-hparams.png"
        assert driver.save_screenshot(str(png))
        _check_screenshot(png, boxes)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)


def test_remote_storage_filesystem_gets_the_logs(tmp_path: Path, ray_session) -> None:
    """A storage filesystem that is not the local one (Ray then syncs, and so do we)."""
    import pyarrow.fs as pafs
    from ray import tune

    from raytuner.config import validate_experiment
    from raytuner.data import load_dataset
    from raytuner.files import dump_yaml
    from raytuner.runs.folder import EXPERIMENT_FILE
    from raytuner.search.space import parse_space, to_ray
    from raytuner.tensorboard.callback import TensorBoardCallback
    from raytuner.tensorboard.rebuild import rebuild
    from raytuner.trial.trainable import make_trainable

    bucket = tmp_path / "bucket"
    bucket.mkdir()
    fs = pafs.SubTreeFileSystem(str(bucket), pafs.LocalFileSystem())
    exp = validate_experiment(tiny_experiment(**{"train.epochs": 2}), source="test")
    fs.create_dir("runs/remote")
    with fs.open_output_stream(f"runs/remote/{EXPERIMENT_FILE}") as out:
        out.write(dump_yaml(exp.to_dict()).encode())
    tuner = tune.Tuner(
        make_trainable(exp, load_dataset(exp.data, exp.seed)),
        param_space=to_ray(parse_space(exp.search.space)),
        tune_config=tune.TuneConfig(metric="val_accuracy", mode="max", num_samples=2,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name="remote", storage_path="runs", storage_filesystem=fs,
                                  callbacks=[TensorBoardCallback(exp)], verbose=0))
    results = tuner.fit()
    assert not results.errors
    logdir = bucket / "runs" / "remote" / "tensorboard"
    mux = load(logdir)
    assert len(sessions(mux)) == 2
    for trial_id, session in sessions(mux).items():
        assert [s for s, _ in scalars(mux, session["run"], VAL_ACCURACY)] == [1, 2], trial_id
    before = scalars(mux, "experiment", layout.search_tags("val_accuracy")[0])
    rebuild("runs/remote", filesystem=fs)
    again = load(logdir)
    # same steps and end (parallel results within one second may replay in another order)
    rebuilt = scalars(again, "experiment", layout.search_tags("val_accuracy")[0])
    assert [s for s, _ in rebuilt] == [s for s, _ in before]
    assert rebuilt[-1] == before[-1]
    assert set(sessions(again)) == set(sessions(mux))
