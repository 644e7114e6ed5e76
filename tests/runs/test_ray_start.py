"""Starting Ray for a run: the Tuner side is imported in a thread while Ray starts, and that
thread cannot deadlock with ``ray.init`` (which must import nothing once its modules are in)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

from raytuner.runs.ray_start import importing_meanwhile


def test_local_ray_init_imports_nothing_beyond_the_preloaded_modules() -> None:
    # In a fresh interpreter: this process's Ray (or none) must not decide what is loaded.
    script = textwrap.dedent("""
        import json, sys
        import ray
        from raytuner.runs import ray_start
        ray_start._load_ray_init_imports()
        before = set(sys.modules)
        started = ray_start.start_ray(None)
        new = sorted(set(sys.modules) - before)
        ray.shutdown()
        print(json.dumps({"started": started, "new": new}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome["started"] is True
    # Anything listed here is imported by ray.init while the warm-up thread imports too:
    # add it to raytuner.runs.ray_start.RAY_INIT_IMPORTS.
    assert outcome["new"] == []


def test_modules_are_imported_in_a_background_thread_while_the_body_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "warm_probe.py").write_text(
        "import threading\nTHREAD = threading.current_thread().name\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "warm_probe", raising=False)
    with importing_meanwhile(["warm_probe"]):
        pass  # the exit waits for the thread
    assert sys.modules["warm_probe"].THREAD == "raytuner-imports"


def test_a_module_failing_in_the_thread_fails_again_with_its_error_where_it_is_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "warm_broken.py").write_text("raise ValueError('broken on purpose')\n",
                                             encoding="utf-8")
    (tmp_path / "warm_after.py").write_text("X = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("warm_broken", "warm_after"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with importing_meanwhile(["warm_broken", "warm_after"]):
        pass  # nothing raised here: the thread only warms the module cache
    assert "warm_broken" not in sys.modules and "warm_after" not in sys.modules
    with pytest.raises(ValueError, match="broken on purpose"):
        import warm_broken  # noqa: F401
