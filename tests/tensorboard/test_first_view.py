"""TensorBoard's first view, in a real browser: the experiment's best-so-far curves first, every
trial's validation metric second, per-trial details after."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import REPO, tiny_experiment, write_yaml

from raytuner.search.space import parse_space
from raytuner.tensorboard import layout
from raytuner.tensorboard.aggregator import Aggregator

pytestmark = pytest.mark.slow


def _write_run(run_dir: Path) -> None:
    """A run folder whose TensorBoard view two trials wrote, epoch by epoch."""
    run_dir.mkdir()
    write_yaml(run_dir / "experiment.yaml", tiny_experiment())
    space = parse_space({"train.lr": {"loguniform": [1e-4, 1e-2]}})
    agg = Aggregator(run_dir / "tensorboard", metric="val_accuracy", mode="max", space=space,
                     metric_modes={"val_loss": "min", "train_loss": "min",
                                   "train_accuracy": "max"},
                     known_metrics=["train_loss", "train_accuracy", "val_loss", "val_accuracy"],
                     start_time=1000.0)
    wall = 1000.0
    for trial_id, lr in (("t1", 0.001), ("t2", 0.005)):
        agg.trial_started(trial_id, {"train.lr": lr}, wall)
        for epoch in (1, 2, 3):
            wall += 1.0
            acc = 0.3 * epoch * (1 + lr)
            agg.trial_result(trial_id, {"train.lr": lr}, {
                "epoch": epoch, "val_accuracy": acc, "val_loss": 1 - acc,
                "train_accuracy": acc, "train_loss": 1 - acc, "lr": lr,
                "epoch_time_s": 0.5}, wall)
        agg.trial_ended(trial_id, {"train.lr": lr}, "completed", wall)
    agg.close(wall + 1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _texts(driver) -> list[str]:
    """Every text of the page in document order, inside shadow roots too."""
    return driver.execute_script("""
        function walk(node, out) {
          if (node.nodeType === 3 && node.textContent.trim()) out.push(node.textContent.trim());
          if (node.shadowRoot) walk(node.shadowRoot, out);
          for (const child of node.childNodes) walk(child, out);
          return out;
        }
        return walk(document.body, []);""")


def test_first_view_shows_how_the_search_is_going(tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    run_dir = tmp_path / "run"
    _write_run(run_dir)
    server = subprocess.Popen(
        [sys.executable, "-m", "raytuner", "tensorboard", str(run_dir), "--port",
         str(_free_port())],
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
        assert url, "no URL printed"
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--no-first-run", f"--user-data-dir={tempfile.mkdtemp()}",
                     "--window-size=1600,1000"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.get(url)  # no fragment: the dashboard TensorBoard opens first
        groups = [layout.SEARCH_GROUP, layout.VAL_GROUP, "best", "perf", "train", "trial"]
        deadline = time.monotonic() + 90
        texts = _texts(driver)
        # Wait for every group and for the first group's cards: TensorBoard draws the group
        # headings before the cards' titles (CI once read the page in between).
        while not (all(g in texts for g in groups)
                   and any(t.startswith("/") for t in texts[texts.index(groups[0]):])):
            assert time.monotonic() < deadline, f"groups never all shown: {texts[:80]}"
            time.sleep(1)
            texts = _texts(driver)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)
    assert "Time Series" in texts  # the dashboard that opens first
    first = [texts.index(g) for g in groups]
    assert first == sorted(first), list(zip(groups, first, strict=True))
    # The first group is open on its first card: the experiment's best so far vs epochs.
    cards = [t for t in texts[first[0]:] if t.startswith("/")]
    assert cards[0] == "/" + layout.search_tags("val_accuracy")[0].split("/", 1)[1]
